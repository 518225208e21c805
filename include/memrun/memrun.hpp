// memrun/memrun.hpp — the whole C++ API in one include.
#pragma once

#include <memrun/cache_admin.hpp>
#include <memrun/client.hpp>
#include <memrun/context.hpp>
#include <memrun/embedded_kafka.hpp>
#include <memrun/exception_status.hpp>
#include <memrun/heartbeats.hpp>
#include <memrun/logging.hpp>
#include <memrun/metrics.hpp>
#include <memrun/package.hpp>
#include <memrun/plugin_loader.hpp>
#include <memrun/protocol.hpp>
#include <memrun/routing.hpp>
#include <memrun/service.hpp>
#include <memrun/status.hpp>
#include <memrun/worker.hpp>
#include <memrun/worker_counters.hpp>
