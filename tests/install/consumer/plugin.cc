#include <memrun/plugin.hpp>

static nlohmann::json handle(memrun::sdk::Request& rq) { return rq.json; }

MEMRUN_PLUGIN("consumer", "0.0.1", nullptr, nullptr, handle, nullptr)
