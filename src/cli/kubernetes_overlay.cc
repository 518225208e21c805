#include "cli/kubernetes_overlay.hpp"

#include <memrun/protocol.hpp>
#include <memrun/service.hpp>
#include <memrun/status.hpp>

#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>

namespace memrun::cli {
namespace {

namespace fs = std::filesystem;

Error bad(const std::string& what) { return Error(Code::kInvalidArgument, "--emit-kubernetes: " + what); }

// A YAML scalar: JSON strings are YAML, and quoting keeps '#' and ':' in URLs
// from being read as comments or mappings.
std::string quoted(const std::string& s) { return nlohmann::json(s).dump(); }

// Bytes as a Kubernetes quantity, rounded up to whole MiB.
std::string quantity(uint64_t bytes) {
  constexpr uint64_t kMi = 1ull << 20, kGi = 1ull << 30;
  if (bytes % kGi == 0) return fmt::format("{}Gi", bytes / kGi);
  return fmt::format("{}Mi", (bytes + kMi - 1) / kMi);
}

// memrun-{service} as a DNS label: lower case, '_' and '.' become '-'. 52
// characters at most, so that the StatefulSet's revision label (name + '-' +
// a 10-character hash) still fits in 63.
std::string kubernetes_name(const std::string& service) {
  std::string name = "memrun-" + service;
  for (char& c : name) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (c == '_' || c == '.') c = '-';
  }
  if (name.size() > 52 || name.back() == '-')
    throw bad("service '" + service + "' makes the Kubernetes name '" + name +
              "', which must end with a letter or digit and be at most 52 characters: package the service "
              "under a shorter name (memrun package --name)");
  return name;
}

}  // namespace

void check_overlay_dir(const std::string& dir) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) return;
  if (!fs::is_directory(dir, ec)) throw bad(dir + " exists and is not a directory");
  if (!fs::is_empty(dir, ec) || ec)
    throw bad(dir + " exists and is not empty: give a new or empty directory (nothing was deployed)");
}

std::vector<std::pair<std::string, std::string>> kubernetes_overlay(const PackageManifest& m,
                                                                    const std::string& package_url,
                                                                    const KubernetesOverlay& o) {
  if (o.bootstrap_servers.empty())
    throw bad("the workers need Kafka: pass --bootstrap-servers or set MEMRUN_BOOTSTRAP_SERVERS");
  if (o.image.empty()) throw bad("--image is empty");
  MemoryService svc;
  apply_service_fields(svc, m.service);
  const std::string name = kubernetes_name(m.service_name());
  const std::string suffix = name.substr(std::string_view("memrun").size());
  const int max_replicas = std::min(m.max_workers, svc.partitions);
  // The package cache sits on the same volume as the disk cache.
  const uint64_t volume_bytes = svc.disk_bytes() + OpenPackageOptions{}.cache_bytes;
  const auto colon = o.image.rfind(':');
  const bool tagged = colon != std::string::npos && o.image.find('/', colon) == std::string::npos;
  const std::string image_name = tagged ? o.image.substr(0, colon) : o.image;
  const std::string image_tag = tagged ? o.image.substr(colon + 1) : "latest";

  std::vector<std::pair<std::string, std::string>> files;
  for (const auto& [file, text] : kKubernetesBase) files.emplace_back("base/" + std::string(file), text);

  files.emplace_back("kustomization.yaml", fmt::format(
R"(# Written by `memrun deploy --emit-kubernetes` for service {service} (plugin {plugin} {version},
# {partitions} partitions, max_workers {max_workers}). Put the S3 credentials
# in host.json (keep it 0600), then: kubectl apply -k <this directory>
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - base
nameSuffix: {suffix}
labels:
  - pairs:
      memrun.dev/service: {name_label}
    includeSelectors: true
images:
  - name: memrun
    newName: {image_name}
    newTag: {image_tag}
configMapGenerator:
  - name: memrun
    literals:
      - {package_literal}
      - {bootstrap_literal}
secretGenerator:
  - name: memrun-host-config
    files:
      - host.json
patches:
  - path: statefulset-patch.yaml
  - path: scaledobject-patch.yaml
)",
      fmt::arg("service", m.service_name()), fmt::arg("plugin", m.plugin_name), fmt::arg("version", m.plugin_version),
      fmt::arg("partitions", svc.partitions), fmt::arg("max_workers", m.max_workers), fmt::arg("suffix", quoted(suffix)),
      fmt::arg("name_label", quoted(name)), fmt::arg("image_name", quoted(image_name)),
      fmt::arg("image_tag", quoted(image_tag)), fmt::arg("package_literal", quoted("MEMRUN_PACKAGE=" + package_url)),
      fmt::arg("bootstrap_literal", quoted("MEMRUN_BOOTSTRAP_SERVERS=" + o.bootstrap_servers))));

  files.emplace_back("statefulset-patch.yaml", fmt::format(
R"(# The service's sizes: memory {memory}; disk {disk} plus the package cache.
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: memrun
spec:
  template:
    spec:
      containers:
        - name: memrun-host
          resources:
            requests:
              memory: {memory_q}
  volumeClaimTemplates:
    - metadata:
        name: cache
      spec:
        accessModes: [ReadWriteOnce]
        resources:
          requests:
            storage: {storage_q}
)",
      fmt::arg("memory", svc.memory), fmt::arg("disk", svc.disk), fmt::arg("memory_q", quoted(quantity(svc.memory_bytes()))),
      fmt::arg("storage_q", quoted(quantity(volume_bytes)))));

  files.emplace_back("scaledobject-patch.yaml", fmt::format(
R"(# KEDA never runs more workers than min(max_workers {max_workers}, partitions {partitions}):
# a worker beyond the partition count would have nothing to serve.
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata:
  name: memrun
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: StatefulSet
    name: {name}
  maxReplicaCount: {max_replicas}
  triggers:
    - type: kafka
      metadata:
        bootstrapServers: {bootstrap}
        consumerGroup: {group}
        topic: {topic}
        lagThreshold: "100"
        offsetResetPolicy: earliest
        allowIdleConsumers: "false"
)",
      fmt::arg("max_workers", m.max_workers), fmt::arg("partitions", svc.partitions), fmt::arg("name", quoted(name)),
      fmt::arg("max_replicas", max_replicas), fmt::arg("bootstrap", quoted(o.bootstrap_servers)),
      fmt::arg("group", quoted(protocol::consumer_group(m.service_name()))),
      fmt::arg("topic", quoted(protocol::request_topic(m.service_name())))));

  files.emplace_back("host.json", R"({
  "s3": {}
}
)");
  return files;
}

void write_overlay(const std::string& dir, const std::vector<std::pair<std::string, std::string>>& files) {
  std::error_code ec;
  fs::create_directories(fs::path(dir) / "base", ec);
  if (ec) throw Error(Code::kUnavailable, "--emit-kubernetes: cannot create " + dir + ": " + ec.message());
  fs::permissions(dir, fs::perms::owner_all, ec);
  for (const auto& [file, text] : files) {
    const fs::path path = fs::path(dir) / file;
    std::ofstream out(path, std::ios::trunc);
    // host.json will hold an S3 secret: owner-only before anything is in it.
    if (out) fs::permissions(path, file == "host.json" ? fs::perms::owner_read | fs::perms::owner_write
                                                       : fs::perms::owner_read | fs::perms::owner_write |
                                                             fs::perms::group_read | fs::perms::others_read, ec);
    out << text;
    if (!out.flush() || ec) throw Error(Code::kUnavailable, "--emit-kubernetes: cannot write " + path.string());
  }
}

}  // namespace memrun::cli
