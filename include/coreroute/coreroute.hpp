#pragma once
// What every backend shares: configs, policies, views, results, metrics, errors.
#include <coreroute/config.hpp>
#include <coreroute/error.hpp>
#include <coreroute/metrics.hpp>
#include <coreroute/policies.hpp>
#include <coreroute/routing.hpp>
#include <coreroute/views.hpp>
