#!/usr/bin/python3
"""Which kernels and device functions two builds compile differently, from their PTX.

usage: /usr/bin/python3 scripts/ptx_diff.py BEFORE.ptx AFTER.ptx

Make each PTX file from one program at two trees with the same flags, e.g.
    nvcc -O3 -DNDEBUG -arch=compute_90 -ptx --expt-relaxed-constexpr -std=c++17 \
         -Icuda -Iinclude -Ireference -Itesting -Itests cuda/tests/test_cuda_parity.cu -o before.ptx
Functions are compared one by one, with what does not change the code left out: line
directives, comments, the numbering of basic-block labels (it follows the function's place
in the file) and the hash of anonymous namespaces (it follows the file's path). A function
identical in both compiles to the same machine code (ptxas compiles each alone), so results
measured on the one build hold for it in the other. Prints the counts and every changed,
gone and new function; exit 0 when none changed or went, 1 otherwise. Standard library only.
"""
import re
import sys

HEAD = re.compile(r"^\s*(?:\.visible\s+|\.weak\s+)*\.(?:entry|func)\s+(?:\([^)]*\)\s*)?([\w$]+)")
LABEL = re.compile(r"\$L__BB\d+_")
ANON = re.compile(r"_GLOBAL__N__[0-9a-f]+_\d+_\w+?_cu_[0-9a-f]+")


def functions(path):
    """{name: normalised body} of every function defined in a PTX file."""
    out, name, body, defining = {}, None, [], False
    with open(path) as f:
        for line in f:
            m = HEAD.match(line) if name is None else None
            if m:
                name, body, defining = ANON.sub("_GLOBAL__N_", m.group(1)), [], False
            if name is None:
                continue
            if not line.lstrip().startswith((".loc", ".file", "//")):
                body.append(line)
            # The header (its parameters may span lines) ends in "{" for a definition, ";" for a declaration.
            if not defining and line.lstrip().startswith("{"):
                defining = True
            elif not defining and line.rstrip().endswith(";"):
                name = None
            elif defining and line.startswith("}"):
                out[name] = ANON.sub("_GLOBAL__N_", LABEL.sub("$L__BB_", "".join(body)))
                name = None
    return out


def main():
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    a, b = functions(sys.argv[1]), functions(sys.argv[2])
    changed = sorted(n for n in a if n in b and a[n] != b[n])
    gone = sorted(n for n in a if n not in b)
    new = sorted(n for n in b if n not in a)
    same = len(a) - len(changed) - len(gone)
    print(f"{len(a)} functions before, {len(b)} after: {same} identical, {len(changed)} changed, "
          f"{len(gone)} gone, {len(new)} new")
    for tag, names in (("changed", changed), ("gone", gone), ("new", new)):
        for n in names:
            print(f"  {tag}: {n}")
    return 1 if changed or gone else 0


if __name__ == "__main__":
    sys.exit(main())
