// memrun package: builds a service package (.tar.zst) from a plugin and data
// files. memrun deploy: checks a package and uploads it to object storage,
// and with --emit-kubernetes writes an overlay that runs it.
#include "cli/commands.hpp"
#include "cli/kubernetes_overlay.hpp"
#include "cli/progress.hpp"

#include <memrun/package.hpp>
#include <memrun/plugin_loader.hpp>
#include <memrun/service.hpp>
#include <memrun/topics.hpp>

#include <fmt/core.h>

#include <memory>
#include <optional>

namespace memrun::cli {
namespace {

struct PackageArgs {
  std::string plugin, output, name, memory, disk, sticky_key;
  std::vector<std::string> data;
  std::optional<int> concurrency, partitions;
  std::optional<double> timeout_s;
  int max_workers = 1;
};

int package(const PackageArgs& a) {
  PackageSpec spec;
  spec.plugin_path = a.plugin;
  spec.data_files = a.data;
  spec.max_workers = a.max_workers;
  if (!a.name.empty()) spec.service["name"] = a.name;
  if (!a.memory.empty()) spec.service["memory"] = a.memory;
  if (!a.disk.empty()) spec.service["disk"] = a.disk;
  if (!a.sticky_key.empty()) spec.service["sticky_key"] = a.sticky_key;
  if (a.concurrency) spec.service["concurrency"] = *a.concurrency;
  if (a.partitions) spec.service["partitions"] = *a.partitions;
  if (a.timeout_s) spec.service["timeout_seconds"] = *a.timeout_s;
  try {
    // The default name is the service's, which the plugin may set: ask it
    // (only its entry function runs).
    std::string output = a.output;
    if (output.empty()) {
      MemoryService svc = load_plugin(a.plugin)->service();
      apply_service_fields(svc, spec.service);
      output = svc.name + ".tar.zst";
    }
    const PackageManifest m = write_package(spec, output);
    fmt::print("{}\n", output);
    fmt::print(stderr, "service {} (plugin {} {}, ABI {}.{}), {} data file(s), partitions {}, max_workers {}\n",
               m.service_name(), m.plugin_name, m.plugin_version, m.abi_major, m.abi_minor, m.files.size(),
               m.service.value("partitions", 0), m.max_workers);
    return kExitOk;
  } catch (const Error& e) {
    fmt::print(stderr, "memrun package: {}\n", e.what());
    return e.code() == Code::kUnavailable ? kExitFailed : kExitUsage;
  }
}

struct DeployArgs {
  std::string path, to, emit_kubernetes, bootstrap;
  std::string image = std::string("memrun:") + MEMRUN_VERSION;
  std::vector<std::string> properties;  // -X key=value for the topic check
  bool skip_topics = false;
  int replication_factor = -1;
  double topics_timeout_s = 15;
};

// Makes sure the package's service has its topics on the cluster, as every
// worker does at start, so that a wrong partition count is found before any
// worker runs. Throws Error as ensure_service_topics does.
void ensure_topics(const DeployArgs& a, const PackageManifest& manifest) {
  // The same -b and -X reading as every Kafka-facing subcommand.
  const KafkaOptions kafka = KafkaFlags{a.bootstrap, a.properties}.options();
  TopicOptions options;
  options.replication_factor = a.replication_factor;
  options.timeout = std::chrono::milliseconds(static_cast<int64_t>(a.topics_timeout_s * 1000));
  MemoryService svc;
  apply_service_fields(svc, manifest.service);
  const int partitions = svc.partitions;
  const auto report = ensure_service_topics(kafka, manifest.service_name(), partitions, options);
  fmt::print(stderr, "topics of {} on {}: {} created, {} checked ({} partitions)\n", manifest.service_name(),
             a.bootstrap, report.created.size(), report.existing.size(), partitions);
}

int deploy(const DeployArgs& a) {
  try {
    // The overlay's checks come first, so that a bad one uploads nothing; the
    // package is read once more for its manifest (deploy_package reads it too).
    std::optional<PackageManifest> manifest;
    const KubernetesOverlay overlay{a.image, a.bootstrap};
    if (!a.emit_kubernetes.empty()) check_overlay_dir(a.emit_kubernetes);
    const bool topics = !a.bootstrap.empty() && !a.skip_topics;
    if (!a.emit_kubernetes.empty() || topics) manifest = verify_package(a.path);
    if (!a.emit_kubernetes.empty()) (void)kubernetes_overlay(*manifest, "", overlay);
    if (topics) ensure_topics(a, *manifest);
    ProgressBar bar("upload");
    const std::string url = deploy_package(a.path, a.to, [&](uint64_t done, uint64_t total) { bar.update(done, total); });
    bar.finish();
    fmt::print("{}\n", url);
    if (!a.emit_kubernetes.empty()) {
      write_overlay(a.emit_kubernetes, kubernetes_overlay(*manifest, url, overlay));
      fmt::print(stderr, "kustomize overlay in {}: put the S3 credentials in {}/host.json, then kubectl apply -k {}\n",
                 a.emit_kubernetes, a.emit_kubernetes, a.emit_kubernetes);
    }
    return kExitOk;
  } catch (const Error& e) {
    return report("deploy", e);
  }
}

}  // namespace

void add_package(CLI::App& app, int* exit_code) {
  auto a = std::make_shared<PackageArgs>();
  auto* cmd = app.add_subcommand(
      "package", "Build a service package (.tar.zst): the plugin, a manifest.json of the service's settings and "
                 "digests, and data files");
  cmd->add_option("--plugin", a->plugin, "The plugin shared object (.so)")->required();
  cmd->add_option("--data", a->data, "A data file to ship: PATH (stored as data/<file name>) or PATH=NAME (repeatable)");
  cmd->add_option("-o,--output", a->output, "Package file to write (default {service}.tar.zst)");
  cmd->add_option("--name", a->name, "Service name (default: the plugin's)");
  cmd->add_option("--memory", a->memory, "RAM budget of the object store, e.g. 32Gi");
  cmd->add_option("--disk", a->disk, "Disk cache budget, e.g. 200Gi");
  cmd->add_option("--concurrency", a->concurrency, "Handlers running at once per worker")->check(CLI::Range(1, 4096));
  cmd->add_option("--sticky-key", a->sticky_key, "Payload fields that route a request, e.g. user_id:dataset_id");
  cmd->add_option("--timeout", a->timeout_s, "Seconds a request may run")->check(kPositiveSeconds);
  cmd->add_option("--partitions", a->partitions, "Partitions of the request topic (at least --max-workers)")
      ->check(CLI::Range(1, 10000));
  cmd->add_option("--max-workers", a->max_workers, "Most workers the service will run")->check(CLI::Range(1, 10000));
  cmd->callback([a, exit_code] { *exit_code = package(*a); });
}

void add_deploy(CLI::App& app, int* exit_code) {
  auto a = std::make_shared<DeployArgs>();
  auto* cmd = app.add_subcommand(
      "deploy", "Check a package and upload it to object storage; prints the URL to run it from "
                "(memrun-host --package URL), pinned by its sha256");
  cmd->add_option("package", a->path, "Package file (.tar.zst) from `memrun package`")->required();
  cmd->add_option("--to", a->to,
                  "Destination: s3://bucket/deployments/{service}/{deployment_id}/package.tar.zst (placeholders "
                  "are filled in; a URL ending in '/' gets that layout appended), or a file:// URL")
      ->required();
  auto* emit = cmd->add_option("--emit-kubernetes", a->emit_kubernetes,
                               "Also write a kustomize overlay running the package on Kubernetes (StatefulSet, "
                               "KEDA ScaledObject) into this new or empty directory; see docs/deploying.md");
  cmd->add_option("--bootstrap-servers,-b", a->bootstrap,
                  "Kafka of the workers (and of KEDA, for --emit-kubernetes): the service's topics are made or "
                  "checked there before the upload")
      ->envname("MEMRUN_BOOTSTRAP_SERVERS");
  cmd->add_option("-X", a->properties, "Extra librdkafka property key=value for the topic check (repeatable)");
  cmd->add_flag("--skip-topics", a->skip_topics,
                "Do not contact Kafka (the workers make their topics at start), e.g. when it is out of reach here");
  cmd->add_option("--replication-factor", a->replication_factor,
                  "Replicas of each topic made (-1: the broker's default)")
      ->check(CLI::Range(-1, 32));
  cmd->add_option("--topics-timeout", a->topics_timeout_s, "Seconds to wait for each answer of the cluster")
      ->check(kPositiveSeconds);
  cmd->add_option("--image", a->image, "Container image holding memrun (the .deb), for --emit-kubernetes")
      ->capture_default_str()
      ->needs(emit);
  cmd->callback([a, exit_code] { *exit_code = deploy(*a); });
}

}  // namespace memrun::cli
