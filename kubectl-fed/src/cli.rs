//! The command line: what `kubectl fed` accepts, spelled like kubectl (`-f`, `-R`, `-n`, `-o`, `--context`,
//! `--kubeconfig`, `--dry-run`), and the parsing of the values clap cannot check alone.
//!
//! Flag values that carry a decision — placement and overrides — are turned into
//! [`kubefed_core::ConvertOptions`] here ([`PlacementArgs::convert_options`]); the checks on them (JSON
//! Pointer syntax, forbidden paths, label syntax) are `kubefed_core`'s, so the webhook judges a stored
//! object exactly as this tool judged the flags.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use kubefed_core::ConvertOptions;
use kubefed_core::api::constants::DEFAULT_SYSTEM_NAMESPACE;
use kubefed_core::api::{ClusterOverrides, Override};
use kubefed_core::convert::{PlacementChoice, ScopedOverrides, parse_cluster_selector};
use serde_json::Value;

const ROOT_EXAMPLES: &str = "\
Examples:
  # Federate a plain app to every joined cluster
  kubectl fed apply -f app.yaml

  # Only to two clusters, with 5 replicas in one of them
  kubectl fed apply -f app.yaml --clusters eu-1,us-1 --override eu-1:/spec/replicas=5

  # Print the federated objects instead of applying them
  kubectl fed federate -f app.yaml

  # Let a CRD-defined type be federated
  kubectl fed enable widgets.example.com";

/// kubectl fed: federate plain Kubernetes manifests across clusters (KubeFed v1beta1 compatible).
#[derive(Debug, Parser)]
#[command(
    name = "kubectl-fed",
    bin_name = "kubectl fed",
    version,
    about = "Federate plain Kubernetes manifests across clusters (KubeFed v1beta1 compatible)",
    after_help = ROOT_EXAMPLES,
    propagate_version = true,
    arg_required_else_help = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every command accepts.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config).
    #[arg(long, global = true, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context of the host cluster (default: the current context).
    #[arg(long, global = true, value_name = "NAME")]
    pub context: Option<String>,
    /// Namespace of the kubefed control plane, where FederatedTypeConfigs live.
    #[arg(long, global = true, value_name = "NS", default_value = DEFAULT_SYSTEM_NAMESPACE)]
    pub kubefed_namespace: String,
    /// How long to wait for each request to the host, e.g. 30s or 1m (0 means no limit).
    #[arg(long, global = true, value_name = "DURATION", default_value = "30s", value_parser = parse_timeout)]
    pub request_timeout: Duration,
    /// Log verbosity on stderr: 0 warnings, 2 info, 4 debug, 6 and more trace (or set RUST_LOG).
    #[arg(
        short = 'v',
        long = "v",
        global = true,
        value_name = "LEVEL",
        default_value_t = 0
    )]
    pub verbosity: u8,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the federated objects for plain manifests, without applying them.
    #[command(after_help = FEDERATE_EXAMPLES)]
    Federate(FederateArgs),
    /// Federate plain manifests and apply them to the host cluster (server-side apply).
    #[command(after_help = APPLY_EXAMPLES)]
    Apply(ApplyArgs),
    /// Show what applying would change in each member cluster: create, update (a unified diff), delete.
    #[command(after_help = DIFF_EXAMPLES)]
    Diff(DiffArgs),
    /// Would the host's admission webhook admit these objects? Its own decisions, run here.
    #[command(after_help = CHECK_EXAMPLES)]
    Check(CheckArgs),
    /// Let a type be federated: create its federated CRD (e.g. FederatedStatefulSet) and FederatedTypeConfig.
    #[command(after_help = ENABLE_EXAMPLES)]
    Enable(EnableArgs),
    /// Stop propagating a type (and, with --delete-crd, remove its federated CRD).
    #[command(after_help = DISABLE_EXAMPLES)]
    Disable(DisableArgs),
    /// Join a member cluster: a least-privilege identity in the member, a KubeFedCluster on the host.
    #[command(after_help = JOIN_EXAMPLES)]
    Join(JoinArgs),
    /// Remove a member cluster: its KubeFedCluster and Secret on the host, its identity in the member.
    #[command(after_help = UNJOIN_EXAMPLES)]
    Unjoin(UnjoinArgs),
    /// List joined clusters (`get clusters`): name, ready, Kubernetes version, labels, age.
    #[command(after_help = GET_EXAMPLES)]
    Get(GetArgs),
    /// Show where a federated object runs: one row per cluster, and the overall Propagation condition.
    #[command(after_help = STATUS_EXAMPLES)]
    Status(StatusArgs),
    /// Take over from a KubeFed v0.10 installation on the host: report what would change, or (--yes) do the
    /// host-side steps.
    #[command(after_help = MIGRATE_EXAMPLES)]
    Migrate(MigrateArgs),
    /// Print the client version and, when the host is reachable, its server version.
    #[command(after_help = VERSION_EXAMPLES)]
    Version(VersionArgs),
    /// Print a shell completion script.
    #[command(after_help = COMPLETION_EXAMPLES)]
    Completion(CompletionArgs),
}

const FEDERATE_EXAMPLES: &str = "\
Examples:
  # Print FederatedDeployment, FederatedService, ... for every object in app.yaml
  kubectl fed federate -f app.yaml

  # A folder, recursively, as JSON, placed on clusters labelled region=eu
  kubectl fed federate -f manifests/ -R -o json --cluster-selector region=eu

  # From a pipeline
  helm template my-chart | kubectl fed federate -f - -n web

Every built-in Kubernetes kind is known offline, with its scope, as are the kinds of CustomResourceDefinitions in
the input; for other kinds the host is asked (unless --offline), else the resource name is guessed, with a warning.
Namespaces follow kubectl: -n, else the object's own, else the kubeconfig context's, else `default`; cluster-scoped
objects get none. CRDs, webhook configurations, APIServices, PriorityClasses, StorageClasses, IngressClasses,
RuntimeClasses and kube-* Namespaces are refused unless --allow-kind names their kind. Helm's annotations
(helm.sh/hook*, meta.helm.sh/*) are dropped.";

const APPLY_EXAMPLES: &str = "\
Examples:
  # Apply an app to every joined cluster
  kubectl fed apply -f app.yaml

  # To two clusters, federating the namespace too, with a per-cluster override
  kubectl fed apply -f app.yaml -n web --create-namespace --clusters eu-1,us-1 \\
      --override us-1:/spec/replicas=3

  # See what the host would store, without storing it
  kubectl fed apply -f app.yaml --dry-run=server

Each object is reported like kubectl does: `federateddeployment.types.kubefed.io/web created`, `configured` or
`unchanged`. When some objects fail, the others are still applied; the failures are listed on stderr and the
exit code is 1.";

const DIFF_EXAMPLES: &str = "\
Examples:
  # What applying app.yaml to every joined cluster would change in each member
  kubectl fed diff -f app.yaml

  # The same flags as apply: placement and overrides
  kubectl fed diff -f app.yaml --clusters eu-1 --override eu-1:/spec/replicas=5

For each object and member cluster one line: create, update, unchanged, delete (the placement dropped the
cluster), or why the controller could not write (e.g. AlreadyExists). Creates and updates are followed by a
unified diff of the member object's YAML — only the fields kubefed manages. Computed with the controller's own
placement, override and member-object code; members are read with the KubeFedClusters' credentials. Values the
member's API server normalizes (a quantity 1000m stored as 1) show as an update the controller would skip.
Exit code: 0 no differences, 1 differences, 2 an error.";

const CHECK_EXAMPLES: &str = "\
Examples:
  # In CI, without a cluster: the policies (and optionally clusters, FederatedNamespaces) as YAML files
  kubectl fed check -f app.yaml --policies policies/

  # Against the host's current clusters, namespaces, type configs and policies
  kubectl fed check -f app.yaml --from-host --clusters eu-1

  # The same, with the webhook's RBAC checks for user alice (SubjectAccessReviews on the host)
  kubectl fed check -f app.yaml --from-host --as alice --clusters eu-1

  # The host's state, but the policies of a branch
  kubectl fed check -f app.yaml --from-host --policies policies/

One line per object: allowed, or denied with the webhook's own message; then its warnings. The object is
converted as apply converts it, defaulted as the webhook's mutation would (e.g. a policy's default placement),
then validated. The webhook's RBAC checks (propagate rights on clusters, the user's rights on the target kind)
run only with --from-host --as USER (SubjectAccessReviews); otherwise they are listed as not evaluated, as is
the type check of override values against the host's schema.
--policies DIR holds FederationPolicies (they replace the host's) and may hold KubeFedClusters,
FederatedNamespaces, Namespaces and FederatedTypeConfigs describing the host; without any FederatedTypeConfig
the default types are assumed. Exit code 1 when an object would be denied.";

const ENABLE_EXAMPLES: &str = "\
Examples:
  # Federate StatefulSets (by plural, singular, kind or short name)
  kubectl fed enable statefulsets
  kubectl fed enable sts

  # A CRD-defined type, named plural.group
  kubectl fed enable widgets.example.com

  # Print the CRD and FederatedTypeConfig instead of applying them
  kubectl fed enable statefulsets -o yaml";

const DISABLE_EXAMPLES: &str = "\
Examples:
  # Stop propagating StatefulSets (federated objects are kept)
  kubectl fed disable statefulsets

  # Also delete the FederatedTypeConfig and the FederatedStatefulSet CRD (refused while objects exist)
  kubectl fed disable statefulsets --delete-crd";

const JOIN_EXAMPLES: &str = "\
Examples:
  # Join the cluster of kubeconfig context eu-1 as member eu-1 (the host is the current context)
  kubectl fed join eu-1 --labels region=eu

  # Name and contexts spelled out; wait up to 2 minutes for the cluster to be Ready
  kubectl fed join eu-1 --cluster-context kind-eu-1 --host-context kind-host --timeout 2m

  # The host's controller reaches the member at another address than your kubeconfig does
  kubectl fed join eu-1 --api-endpoint https://172.18.0.3:6443

  # See what would be created, change nothing
  kubectl fed join eu-1 --dry-run

In the member, join creates the kubefed namespace, a ServiceAccount, its token Secret and a ClusterRole (plus
binding) allowing only what propagation needs: the target resources of the enabled types, reading namespaces,
GET /healthz and /version. `kubectl fed enable` and `disable` update that ClusterRole in every joined member.
--rbac=admin grants everything instead (KubeFed's behaviour). On the host it creates a Secret with the token and
the KubeFedCluster, then waits until the controller reports the cluster Ready. Running join again is safe: it
changes nothing when nothing changed, and updates labels or the grant otherwise.";

const UNJOIN_EXAMPLES: &str = "\
Examples:
  # Remove member eu-1 (its kubeconfig context is eu-1); objects propagated there stay
  kubectl fed unjoin eu-1

  # First delete everything kubefed propagated to eu-1
  kubectl fed unjoin eu-1 --cleanup

  # eu-1 is gone for good: remove it from the host anyway and list what is left in the member
  kubectl fed unjoin eu-1 --force

Unjoin warns with the number of federated objects still placed on the cluster. --cleanup deletes every object in
the member labelled kubefed.io/managed=true of an enabled type (namespaces we propagated included, with their
contents) and reports the count.";

const GET_EXAMPLES: &str = "\
Examples:
  kubectl fed get clusters
  kubectl fed get clusters -o wide
  kubectl fed get clusters -o yaml";

const MIGRATE_EXAMPLES: &str = "\
Examples:
  # What of KubeFed is on the host, and what the migration would change (reads only)
  kubectl fed migrate --dry-run

  # Do the host-side steps, keeping KubeFed's annotation semantics (no new generation in members)
  kubectl fed migrate --yes --keep-kubefed-annotations --backup-dir ./kubefed-backup

  # Then install kubefed-rs over KubeFed's FederatedTypeConfigs and KubeFedConfig
  helm install kubefed-rs charts/kubefed -n kube-federation-system \\
    --set federatedTypeConfigs.create=false --set kubefedConfig.create=false

--yes upgrades the CRDs in place (server-side apply: no CRD or object is deleted), scales KubeFed's controller
to 0 and waits for its pods to stop, saves then deletes KubeFed's webhook configurations (they fail closed once
its webhook is gone), and scales KubeFed's webhook to 0. It stops at the first problem and says what to do;
re-running skips what is done. Rollback: docs/migration.md#rollback (apply the saved files, scale back up).";

const STATUS_EXAMPLES: &str = "\
Examples:
  # Where the web Deployment of namespace shop runs
  kubectl fed status deploy/web -n shop

  # Every object of an app, as applied with kubectl fed apply -f app.yaml
  kubectl fed status -f app.yaml

  # Keep watching until Ctrl-C (at most 30 minutes by default)
  kubectl fed status deploy/web -n shop --watch

Rows: every joined cluster — PLACED (the placement selects it), STATUS (OK, Pending, ClusterNotReady, or the
controller's per-cluster error such as CreationFailed), READY/DESIRED replicas for workloads (desired after the
cluster's overrides), and what the problem means. Exit code 1 when an object is not found on the host.";

const VERSION_EXAMPLES: &str = "\
Examples:
  kubectl fed version
  kubectl fed version --client -o json";

const COMPLETION_EXAMPLES: &str = "\
Examples:
  # bash (completes the kubectl-fed command)
  kubectl fed completion bash > ~/.local/share/bash-completion/completions/kubectl-fed

  # zsh
  kubectl fed completion zsh > \"${fpath[1]}/_kubectl-fed\"

  # fish
  kubectl fed completion fish > ~/.config/fish/completions/kubectl-fed.fish";

/// Where manifests come from.
#[derive(Debug, Clone, Args)]
pub struct InputArgs {
    /// Files, folders or `-` (standard input) with manifests: YAML (multi-document), JSON or `kind: List`.
    #[arg(
        short = 'f',
        long = "filename",
        value_name = "FILE|DIR|-",
        required = true,
        value_delimiter = ','
    )]
    pub filenames: Vec<String>,
    /// Read folders given with -f recursively.
    #[arg(short = 'R', long)]
    pub recursive: bool,
}

/// Where the federated objects go and how they differ per cluster.
#[derive(Debug, Clone, Default, Args)]
pub struct PlacementArgs {
    /// Place on exactly these member clusters (comma-separated; an empty value places on none).
    /// Default: every joined cluster.
    #[arg(long, value_name = "a,b,...", conflicts_with = "cluster_selector")]
    pub clusters: Option<String>,
    /// Place on the member clusters whose KubeFedCluster has all these labels, e.g. region=eu,tier=prod.
    #[arg(long, value_name = "k=v,...")]
    pub cluster_selector: Option<String>,
    /// A per-cluster override: CLUSTER:PATH=JSON replaces (JSON values; anything else is taken as a string),
    /// CLUSTER:PATH+=JSON adds, CLUSTER:PATH- removes. PATH is a JSON Pointer, e.g. eu-1:/spec/replicas=5.
    /// Prefix KIND/NAME: to apply it to one object only, e.g. deployment/web:eu-1:/spec/replicas=5.
    /// Repeatable. A replace or remove of a field the object's template lacks is a warning, as is a KIND/NAME
    /// that names no object of the input.
    #[arg(long = "override", value_name = "[KIND/NAME:]CLUSTER:PATH=JSON")]
    pub overrides: Vec<String>,
    /// A YAML or JSON file with overrides in the shape of spec.overrides:
    /// a list of {clusterName, clusterOverrides: [{op, path, value}]}.
    #[arg(long, value_name = "FILE")]
    pub overrides_file: Option<PathBuf>,
}

/// Kinds refused by default.
#[derive(Debug, Clone, Default, Args)]
pub struct AllowArgs {
    /// Federate objects of a kind refused by default (comma-separated or repeated, case-insensitive):
    /// CustomResourceDefinition, ValidatingWebhookConfiguration, MutatingWebhookConfiguration, APIService,
    /// PriorityClass, StorageClass, IngressClass, RuntimeClass, and Namespace for kube-* namespaces. They
    /// change how each member cluster as a whole behaves, so they are federated only on purpose.
    #[arg(long = "allow-kind", value_name = "KIND", value_delimiter = ',')]
    pub kinds: Vec<String>,
}

/// `-o` of `federate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Yaml,
    Json,
}

/// `kubectl fed federate`.
#[derive(Debug, Clone, Args)]
pub struct FederateArgs {
    #[command(flatten)]
    pub input: InputArgs,
    #[command(flatten)]
    pub placement: PlacementArgs,
    /// Namespace of namespaced objects (an object in another namespace is an error). Default: the object's
    /// own, else the kubeconfig context's namespace (also with --offline), else `default`. Cluster-scoped
    /// objects never get one; a namespace written on one is dropped with a warning.
    #[arg(short = 'n', long)]
    pub namespace: Option<String>,
    #[command(flatten)]
    pub allow: AllowArgs,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value = "yaml")]
    pub output: Format,
    /// Never contact a cluster: use the built-in table of the default types and guess the rest.
    #[arg(long, conflicts_with = "use_discovery")]
    pub offline: bool,
    /// Resolve every kind with the host's API discovery, and fail if the host cannot be reached.
    /// (Without this flag discovery is used only for kinds the built-in table does not know, when the host
    /// answers.)
    #[arg(long)]
    pub use_discovery: bool,
}

/// `--dry-run` values, as kubectl spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DryRun {
    /// Apply for real.
    None,
    /// Only print what would be sent; nothing is sent to the host except reads.
    Client,
    /// Send every request with dryRun=All: the host validates but stores nothing.
    Server,
}

/// `kubectl fed apply`.
#[derive(Debug, Clone, Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub input: InputArgs,
    #[command(flatten)]
    pub placement: PlacementArgs,
    /// Namespace of namespaced objects (an object in another namespace is an error). Default: the object's
    /// own, else the kubeconfig context's namespace, else `default`. Cluster-scoped objects never get one;
    /// a namespace written on one is dropped with a warning.
    #[arg(short = 'n', long)]
    pub namespace: Option<String>,
    #[command(flatten)]
    pub allow: AllowArgs,
    /// `client`: print what would be applied; `server`: the host validates every object but stores nothing.
    #[arg(long, value_enum, value_name = "none|client|server", default_value = "none",
          num_args = 0..=1, default_missing_value = "client", require_equals = true)]
    pub dry_run: DryRun,
    /// Take over fields another field manager owns (server-side apply conflicts).
    #[arg(long)]
    pub force_conflicts: bool,
    /// Create each target namespace that is missing on the host, and federate it (a FederatedNamespace with
    /// the same placement) when it is not yet federated.
    #[arg(long)]
    pub create_namespace: bool,
}

/// `kubectl fed check`.
#[derive(Debug, Clone, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub input: InputArgs,
    #[command(flatten)]
    pub placement: PlacementArgs,
    /// Namespace of namespaced objects (an object in another namespace is an error), as with apply. Default:
    /// the object's own, else the kubeconfig context's namespace, else `default`.
    #[arg(short = 'n', long)]
    pub namespace: Option<String>,
    #[command(flatten)]
    pub allow: AllowArgs,
    /// A folder of YAML files: FederationPolicies, and optionally KubeFedClusters, FederatedNamespaces,
    /// Namespaces and FederatedTypeConfigs describing the host.
    #[arg(long, value_name = "DIR")]
    pub policies: Option<PathBuf>,
    /// Read clusters, FederatedNamespaces, Namespaces, type configs and policies from the host (what
    /// --policies gives replaces the host's).
    #[arg(long)]
    pub from_host: bool,
    /// The requesting user, as the webhook sees it (named in denials). With --from-host, the webhook's RBAC
    /// checks run for this user (SubjectAccessReviews; you need the right to create them). Without it,
    /// --from-host checks your own rights (SelfSubjectAccessReviews, which anyone may ask).
    #[arg(long = "as", value_name = "USER")]
    pub user: Option<String>,
    /// A group of the requesting user (repeatable), for the RBAC checks of --from-host --as.
    #[arg(long = "as-group", value_name = "GROUP", requires = "user")]
    pub groups: Vec<String>,
}

/// `kubectl fed diff`.
#[derive(Debug, Clone, Args)]
pub struct DiffArgs {
    #[command(flatten)]
    pub input: InputArgs,
    #[command(flatten)]
    pub placement: PlacementArgs,
    /// Namespace of namespaced objects (an object in another namespace is an error), as with apply. Default:
    /// the object's own, else the kubeconfig context's namespace, else `default`.
    #[arg(short = 'n', long)]
    pub namespace: Option<String>,
    #[command(flatten)]
    pub allow: AllowArgs,
    /// As with apply: a namespace that is not federated yet would be, with the object's placement.
    #[arg(long)]
    pub create_namespace: bool,
}

/// `-o` of `enable` and `version`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PrintFormat {
    Yaml,
    Json,
}

/// `kubectl fed enable`.
#[derive(Debug, Clone, Args)]
pub struct EnableArgs {
    /// The type: plural, singular, kind, short name or plural.group (e.g. deployments.apps).
    #[arg(value_name = "TYPE")]
    pub type_name: String,
    /// Print the CRD and the FederatedTypeConfig instead of applying them.
    #[arg(short = 'o', long, value_enum)]
    pub output: Option<PrintFormat>,
}

/// `kubectl fed disable`.
#[derive(Debug, Clone, Args)]
pub struct DisableArgs {
    /// The type: plural, singular, kind, short name or plural.group (e.g. deployments.apps).
    #[arg(value_name = "TYPE")]
    pub type_name: String,
    /// Also delete the FederatedTypeConfig and the federated CRD (e.g. FederatedStatefulSet); refused while
    /// federated objects of the type exist.
    #[arg(long)]
    pub delete_crd: bool,
}

/// `kubectl fed version`.
#[derive(Debug, Clone, Args)]
pub struct VersionArgs {
    /// Print only the client version; do not contact the host.
    #[arg(long)]
    pub client: bool,
    /// Output format (default: human-readable lines).
    #[arg(short = 'o', long, value_enum)]
    pub output: Option<PrintFormat>,
}

/// Which rights the member identity gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Rbac {
    /// Only what propagation of the enabled types needs.
    Minimal,
    /// Everything (`*` on `*`), as KubeFed's kubefedctl granted.
    Admin,
}

/// `kubectl fed join`.
#[derive(Debug, Clone, Args)]
pub struct JoinArgs {
    /// The member's name on the host (a DNS label, e.g. eu-1): the KubeFedCluster's name, used in placements.
    #[arg(value_name = "NAME")]
    pub name: String,
    /// The kubeconfig context of the member cluster (default: NAME).
    #[arg(long, value_name = "CTX")]
    pub cluster_context: Option<String>,
    /// The kubeconfig context of the host cluster (default: --context, else the current context).
    #[arg(long, value_name = "CTX")]
    pub host_context: Option<String>,
    /// Labels of the KubeFedCluster, which placements select on, e.g. region=eu,tier=prod.
    #[arg(long, value_name = "k=v,...")]
    pub labels: Option<String>,
    /// Fail when a cluster named NAME is already joined (default: re-running join updates it).
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_value = "false", default_missing_value = "true",
          require_equals = true, action = clap::ArgAction::Set)]
    pub error_on_existing: bool,
    /// Check everything and print what would be created; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Rights of the member identity: `minimal` (the enabled types, namespaces, /healthz, /version) or `admin`.
    #[arg(long, value_enum, default_value = "minimal")]
    pub rbac: Rbac,
    /// How long to wait for the token and for the cluster to be Ready, e.g. 60s or 2m (0: do not wait for
    /// Ready).
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_timeout)]
    pub timeout: Duration,
    /// The member's API server URL as the host's controller reaches it (default: the server of the member's
    /// kubeconfig context).
    #[arg(long, value_name = "URL")]
    pub api_endpoint: Option<String>,
}

/// `kubectl fed unjoin`.
#[derive(Debug, Clone, Args)]
pub struct UnjoinArgs {
    /// The member's name on the host.
    #[arg(value_name = "NAME")]
    pub name: String,
    /// The kubeconfig context of the member cluster (default: NAME).
    #[arg(long, value_name = "CTX")]
    pub cluster_context: Option<String>,
    /// The kubeconfig context of the host cluster (default: --context, else the current context).
    #[arg(long, value_name = "CTX")]
    pub host_context: Option<String>,
    /// First delete every object kubefed propagated to the member (label kubefed.io/managed=true).
    #[arg(long)]
    pub cleanup: bool,
    /// Go on when the member cannot be reached (or the cluster is not joined), and list what was left.
    #[arg(long)]
    pub force: bool,
}

/// What `get` lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GetResource {
    /// Joined member clusters (KubeFedClusters).
    #[value(
        alias = "cluster",
        alias = "kubefedclusters",
        alias = "kubefedcluster",
        alias = "kfc"
    )]
    Clusters,
}

/// `-o` of `get`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GetFormat {
    Wide,
    Yaml,
    Json,
}

/// `kubectl fed get`.
#[derive(Debug, Clone, Args)]
pub struct GetArgs {
    /// What to list.
    #[arg(value_enum)]
    pub resource: GetResource,
    /// Output format (default: a table).
    #[arg(short = 'o', long, value_enum)]
    pub output: Option<GetFormat>,
}

/// `kubectl fed status`.
#[derive(Debug, Clone, Args)]
pub struct StatusArgs {
    /// KIND/NAME, e.g. deploy/web, deployment/web or federateddeployment/web.
    #[arg(
        value_name = "KIND/NAME",
        conflicts_with = "filenames",
        required_unless_present = "filenames"
    )]
    pub target: Option<String>,
    /// Files, folders or `-` with the plain manifests of the objects to show.
    #[arg(
        short = 'f',
        long = "filename",
        value_name = "FILE|DIR|-",
        value_delimiter = ','
    )]
    pub filenames: Vec<String>,
    /// Read folders given with -f recursively.
    #[arg(short = 'R', long)]
    pub recursive: bool,
    /// Namespace of namespaced objects that have none (default: the kubeconfig context's, else default).
    #[arg(short = 'n', long)]
    pub namespace: Option<String>,
    /// Keep showing: render again whenever the object(s) or a cluster change, until Ctrl-C.
    #[arg(short = 'w', long)]
    pub watch: bool,
    /// With --watch, stop after this long, e.g. 10m (0: only Ctrl-C stops it).
    #[arg(long, value_name = "DURATION", default_value = "30m", value_parser = parse_timeout, requires = "watch")]
    pub watch_timeout: Duration,
}

/// `kubectl fed migrate`.
#[derive(Debug, Clone, Args)]
pub struct MigrateArgs {
    /// Only report what was found and what would change (the default).
    #[arg(long)]
    pub dry_run: bool,
    /// Do the host-side steps in order (CRDs, KubeFed's controller, its webhook configurations, its webhook),
    /// stopping at the first problem. Safe to re-run: steps already done are skipped.
    #[arg(long, conflicts_with = "dry_run")]
    pub yes: bool,
    /// Also set KubeFedConfig syncController.propagateTemplateAnnotations: Disabled, so member objects get no
    /// new generation at takeover (KubeFed's semantics; switch back later, see docs/migration.md).
    #[arg(long)]
    pub keep_kubefed_annotations: bool,
    /// Where --yes saves KubeFed's webhook configurations before deleting them (for rollback). Created if
    /// missing; an existing backup file is never overwritten.
    #[arg(long, value_name = "DIR", default_value = "kubefed-migration-backup")]
    pub backup_dir: std::path::PathBuf,
    /// How long --yes waits for KubeFed's pods to stop after scaling a Deployment to 0.
    #[arg(long, value_name = "DURATION", default_value = "2m", value_parser = parse_timeout)]
    pub timeout: Duration,
}

/// Shells `completion` writes scripts for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

/// `kubectl fed completion`.
#[derive(Debug, Clone, Args)]
pub struct CompletionArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: Shell,
}

pub(crate) fn parse_timeout(value: &str) -> Result<Duration, String> {
    // kubectl accepts a bare number of seconds too.
    if let Ok(secs) = value.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    kubefed_core::api::parse_duration(value).map_err(|e| e.to_string())
}

impl PlacementArgs {
    /// The conversion options these flags describe, with `-n` (`namespace`), the namespace of objects that
    /// have none (`default_namespace`) and `--allow-kind`. Overrides from `--overrides-file` come first,
    /// then each `--override`, grouped by cluster.
    pub fn convert_options(
        &self,
        namespace: Option<String>,
        default_namespace: Option<String>,
        allow: &AllowArgs,
    ) -> anyhow::Result<ConvertOptions> {
        let placement = match (&self.clusters, &self.cluster_selector) {
            (Some(list), _) => PlacementChoice::Clusters(parse_cluster_list(list)),
            (None, Some(selector)) => PlacementChoice::ClusterSelector(
                parse_cluster_selector(selector).context("while reading --cluster-selector")?,
            ),
            (None, None) => PlacementChoice::AllClusters,
        };
        let mut overrides = match &self.overrides_file {
            Some(path) => read_overrides_file(path)?,
            None => Vec::new(),
        };
        let mut scoped_overrides: Vec<ScopedOverrides> = Vec::new();
        for flag in &self.overrides {
            let (scope, cluster, op) = parse_scoped_override(flag)?;
            let overrides = match scope {
                None => &mut overrides,
                Some((kind, name)) => {
                    let at = scoped_overrides
                        .iter()
                        .position(|s| s.kind.eq_ignore_ascii_case(&kind) && s.name == name)
                        .unwrap_or_else(|| {
                            scoped_overrides.push(ScopedOverrides {
                                kind,
                                name,
                                overrides: Vec::new(),
                            });
                            scoped_overrides.len() - 1
                        });
                    &mut scoped_overrides[at].overrides
                }
            };
            let entry = overrides.iter_mut().find(|o| {
                o.cluster_selector.is_none() && o.cluster_name.as_deref() == Some(cluster.as_str())
            });
            match entry {
                Some(entry) => entry.cluster_overrides.push(op),
                None => overrides.push(ClusterOverrides {
                    cluster_name: Some(cluster),
                    cluster_selector: None,
                    cluster_overrides: vec![op],
                }),
            }
        }
        Ok(ConvertOptions {
            namespace: namespace.filter(|ns| !ns.is_empty()),
            default_namespace,
            allowed_kinds: allow
                .kinds
                .iter()
                .map(|k| k.trim().to_ascii_lowercase())
                .filter(|k| !k.is_empty())
                .collect(),
            placement,
            overrides,
            scoped_overrides,
        })
    }
}

/// `a, b,c` → `[a, b, c]`; the empty string → no cluster.
fn parse_cluster_list(list: &str) -> Vec<String> {
    if list.trim().is_empty() {
        return Vec::new();
    }
    list.split(',').map(|c| c.trim().to_string()).collect()
}

/// `KIND/NAME` of `--override KIND/NAME:…`.
type ObjectRef = (String, String);

/// Parses one `--override`, optionally scoped to one object: `KIND/NAME:CLUSTER:PATH…` (cluster names
/// cannot contain `/`, so a first part with one is a scope). Returns the scope, the cluster and the change.
fn parse_scoped_override(flag: &str) -> anyhow::Result<(Option<ObjectRef>, String, Override)> {
    if let Some((first, rest)) = flag.split_once(':')
        && let Some((kind, name)) = first.split_once('/')
    {
        let (kind, name) = (kind.trim(), name.trim());
        if kind.is_empty() || name.is_empty() || name.contains('/') {
            bail!(
                "invalid --override {flag:?}: the object must be KIND/NAME, like deployment/web; expected \
                 [KIND/NAME:]CLUSTER:PATH=JSON"
            );
        }
        let (cluster, op) = parse_override(rest)?;
        return Ok((Some((kind.to_string(), name.to_string())), cluster, op));
    }
    let (cluster, op) = parse_override(flag)?;
    Ok((None, cluster, op))
}

/// Parses one `--override`: `CLUSTER:PATH=JSON` (replace), `CLUSTER:PATH+=JSON` (add) or `CLUSTER:PATH-`
/// (remove). A value that is not JSON is taken as a string, so `eu-1:/metadata/labels/tier=prod` works
/// without quoting. The path itself is checked later, with every other override, by
/// [`kubefed_core::validate_overrides`].
pub fn parse_override(flag: &str) -> anyhow::Result<(String, Override)> {
    let usage = "expected CLUSTER:PATH=JSON, CLUSTER:PATH+=JSON or CLUSTER:PATH-, e.g. eu-1:/spec/replicas=5";
    let Some((cluster, rest)) = flag.split_once(':') else {
        bail!("invalid --override {flag:?}: {usage}");
    };
    let cluster = cluster.trim();
    if cluster.is_empty() {
        bail!("invalid --override {flag:?}: the cluster name is empty; {usage}");
    }
    if !rest.starts_with('/') {
        bail!(
            "invalid --override {flag:?}: the path must be a JSON Pointer starting with /, like /spec/replicas; \
             {usage}"
        );
    }
    let (op, path, value) = if let Some((path, value)) = rest.split_once('=') {
        match path.strip_suffix('+') {
            Some(path) => ("add", path, Some(parse_value(value))),
            None => ("", path, Some(parse_value(value))),
        }
    } else if let Some(path) = rest.strip_suffix('-') {
        ("remove", path, None)
    } else {
        bail!("invalid --override {flag:?}: no value; {usage}");
    };
    Ok((
        cluster.to_string(),
        Override {
            op: (!op.is_empty()).then(|| op.to_string()),
            path: path.to_string(),
            value,
        },
    ))
}

fn parse_value(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string()))
}

/// Reads `--overrides-file`: a YAML or JSON list shaped like `spec.overrides`.
fn read_overrides_file(path: &std::path::Path) -> anyhow::Result<Vec<ClusterOverrides>> {
    let display = path.display().to_string();
    let text =
        std::fs::read_to_string(path).with_context(|| format!("while reading --overrides-file {display}"))?;
    let value: Value = if text.trim_start().starts_with(['[', '{']) {
        serde_json::from_str(&text).or_else(|_| serde_saphyr::from_str(&text).map_err(|e| e.to_string()))
    } else {
        serde_saphyr::from_str(&text).map_err(|e| e.to_string())
    }
    .map_err(|e| anyhow::anyhow!("{display}: invalid YAML or JSON: {e}"))?;
    // Accept a bare list, or an object with `overrides:` (a copied `spec`) or `spec.overrides`.
    let list = match &value {
        Value::Array(_) => value.clone(),
        Value::Object(m) => m
            .get("overrides")
            .or_else(|| value.pointer("/spec/overrides"))
            .cloned()
            .unwrap_or(Value::Null),
        Value::Null => Value::Array(Vec::new()),
        _ => Value::Null,
    };
    if !list.is_array() {
        bail!(
            "{display}: expected a list of {{clusterName, clusterOverrides: [{{op, path, value}}]}} (the shape of \
             spec.overrides)"
        );
    }
    serde_json::from_value(list).map_err(|e| {
        anyhow::anyhow!(
            "{display}: {e}; each entry needs clusterName and clusterOverrides: [{{op, path, value}}] (the shape \
             of spec.overrides)"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;
    use serde_json::json;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("kubectl-fed").chain(args.iter().copied()))
    }

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn apply_flags_like_kubectl() {
        let cli = parse(&[
            "apply",
            "-f",
            "a.yaml,b.yaml",
            "-f",
            "dir",
            "-R",
            "-n",
            "web",
            "--dry-run=server",
            "--force-conflicts",
            "--create-namespace",
            "--clusters",
            "eu-1,us-1",
            "--override",
            "eu-1:/spec/replicas=5",
            "--context",
            "host",
            "--kubeconfig",
            "/tmp/kc",
        ])
        .expect("valid");
        let Command::Apply(a) = cli.command else {
            panic!("not apply: {:?}", cli.command)
        };
        assert_eq!(a.input.filenames, ["a.yaml", "b.yaml", "dir"]);
        assert!(a.input.recursive && a.force_conflicts && a.create_namespace);
        assert_eq!(a.dry_run, DryRun::Server);
        assert_eq!(a.namespace.as_deref(), Some("web"));
        assert_eq!(cli.global.context.as_deref(), Some("host"));
        assert_eq!(cli.global.kubeconfig, Some(PathBuf::from("/tmp/kc")));
        assert_eq!(cli.global.kubefed_namespace, "kube-federation-system");
        assert_eq!(cli.global.request_timeout, Duration::from_secs(30));
    }

    #[test]
    fn dry_run_alone_means_client() {
        struct Case {
            name: &'static str,
            args: &'static [&'static str],
            want: Option<DryRun>,
        }
        let cases = [
            Case {
                name: "absent",
                args: &[],
                want: Some(DryRun::None),
            },
            Case {
                name: "bare",
                args: &["--dry-run"],
                want: Some(DryRun::Client),
            },
            Case {
                name: "client",
                args: &["--dry-run=client"],
                want: Some(DryRun::Client),
            },
            Case {
                name: "server",
                args: &["--dry-run=server"],
                want: Some(DryRun::Server),
            },
            Case {
                name: "none",
                args: &["--dry-run=none"],
                want: Some(DryRun::None),
            },
            Case {
                name: "bad",
                args: &["--dry-run=all"],
                want: None,
            },
        ];
        for case in cases {
            let mut args = vec!["apply", "-f", "x"];
            args.extend_from_slice(case.args);
            let got = parse(&args).ok().map(|cli| match cli.command {
                Command::Apply(a) => a.dry_run,
                _ => panic!("not apply"),
            });
            assert_eq!(got, case.want, "case {}", case.name);
        }
    }

    #[test]
    fn bad_command_lines_are_rejected() {
        for (name, args) in [
            ("apply without -f", &["apply"][..]),
            (
                "both placements",
                &[
                    "federate",
                    "-f",
                    "x",
                    "--clusters",
                    "a",
                    "--cluster-selector",
                    "r=eu",
                ],
            ),
            (
                "offline and discovery",
                &["federate", "-f", "x", "--offline", "--use-discovery"],
            ),
            ("unknown output", &["federate", "-f", "x", "-o", "wide"]),
            ("enable without type", &["enable"]),
            ("bad timeout", &["version", "--request-timeout", "soon"]),
            ("unknown shell", &["completion", "powershell"]),
        ] {
            assert!(parse(args).is_err(), "case {name} parsed");
        }
    }

    #[test]
    fn global_flags_go_anywhere() {
        let cli = parse(&[
            "--context",
            "c1",
            "enable",
            "sts",
            "-o",
            "yaml",
            "--kubefed-namespace",
            "fed",
        ])
        .expect("valid");
        assert_eq!(cli.global.context.as_deref(), Some("c1"));
        assert_eq!(cli.global.kubefed_namespace, "fed");
        let Command::Enable(e) = cli.command else {
            panic!("not enable")
        };
        assert_eq!((e.type_name.as_str(), e.output), ("sts", Some(PrintFormat::Yaml)));
        let cli = parse(&["version", "--request-timeout", "5"]).expect("valid");
        assert_eq!(cli.global.request_timeout, Duration::from_secs(5));
    }

    #[test]
    fn override_flags() {
        struct Case {
            name: &'static str,
            flag: &'static str,
            want: Result<(&'static str, &'static str, &'static str, Option<Value>), &'static str>,
        }
        let cases = [
            Case {
                name: "number",
                flag: "eu-1:/spec/replicas=5",
                want: Ok(("eu-1", "", "/spec/replicas", Some(json!(5)))),
            },
            Case {
                name: "bare string",
                flag: "eu-1:/metadata/labels/tier=prod",
                want: Ok(("eu-1", "", "/metadata/labels/tier", Some(json!("prod")))),
            },
            Case {
                name: "json object, = inside the value",
                flag: r#"us:/spec/selector={"a":"b=c"}"#,
                want: Ok(("us", "", "/spec/selector", Some(json!({"a": "b=c"})))),
            },
            Case {
                name: "quoted number stays a string",
                flag: r#"us:/data/v="5""#,
                want: Ok(("us", "", "/data/v", Some(json!("5")))),
            },
            Case {
                name: "add",
                flag: "us:/spec/x+=true",
                want: Ok(("us", "add", "/spec/x", Some(json!(true)))),
            },
            Case {
                name: "remove",
                flag: "us:/spec/x-",
                want: Ok(("us", "remove", "/spec/x", None)),
            },
            Case {
                name: "no colon",
                flag: "/spec/replicas=5",
                want: Err("expected CLUSTER:PATH=JSON"),
            },
            Case {
                name: "empty cluster",
                flag: ":/spec/replicas=5",
                want: Err("the cluster name is empty"),
            },
            Case {
                name: "not a pointer",
                flag: "eu:spec.replicas=5",
                want: Err("must be a JSON Pointer"),
            },
            Case {
                name: "no value",
                flag: "eu:/spec/replicas",
                want: Err("no value"),
            },
        ];
        for case in cases {
            let got = parse_override(case.flag)
                .map(|(c, op)| (c, op.op.unwrap_or_default(), op.path, op.value))
                .map_err(|e| e.to_string());
            match (got, case.want) {
                (Ok(got), Ok(want)) => assert_eq!(
                    got,
                    (want.0.to_string(), want.1.to_string(), want.2.to_string(), want.3),
                    "case {}",
                    case.name
                ),
                (Err(got), Err(want)) => assert!(got.contains(want), "case {}: {got}", case.name),
                (got, want) => panic!("case {}: got {got:?}, want {want:?}", case.name),
            }
        }
    }

    #[test]
    fn overrides_scoped_to_one_object() {
        let args = PlacementArgs {
            overrides: vec![
                "eu-1:/metadata/labels/tier=prod".into(),
                "deployment/web:eu-1:/spec/replicas=3".into(),
                "Deployment/web:us-1:/spec/paused=true".into(),
            ],
            ..PlacementArgs::default()
        };
        let opts = args
            .convert_options(None, None, &AllowArgs::default())
            .expect("valid");
        assert_eq!(opts.overrides.len(), 1);
        assert_eq!(opts.scoped_overrides.len(), 1, "same object, any case");
        let scoped = &opts.scoped_overrides[0];
        assert_eq!(
            (scoped.kind.as_str(), scoped.name.as_str()),
            ("deployment", "web")
        );
        assert_eq!(
            scoped
                .overrides
                .iter()
                .map(|o| o.cluster_name.as_deref().unwrap_or_default())
                .collect::<Vec<_>>(),
            ["eu-1", "us-1"]
        );
        let bad = PlacementArgs {
            overrides: vec!["deployment/:eu-1:/spec/replicas=3".into()],
            ..PlacementArgs::default()
        };
        let err = bad
            .convert_options(None, None, &AllowArgs::default())
            .expect_err("no name");
        assert!(err.to_string().contains("must be KIND/NAME"), "{err}");
    }

    #[test]
    fn placement_and_overrides_become_convert_options() {
        let args = PlacementArgs {
            clusters: Some("eu-1, us-1".into()),
            overrides: vec![
                "eu-1:/spec/replicas=2".into(),
                "us-1:/spec/replicas=3".into(),
                "eu-1:/a-".into(),
            ],
            ..PlacementArgs::default()
        };
        let opts = args
            .convert_options(Some("web".into()), None, &AllowArgs::default())
            .expect("valid");
        assert_eq!(opts.namespace.as_deref(), Some("web"));
        assert_eq!(
            opts.placement,
            PlacementChoice::Clusters(vec!["eu-1".into(), "us-1".into()])
        );
        assert_eq!(opts.overrides.len(), 2);
        assert_eq!(opts.overrides[0].cluster_overrides.len(), 2);
        let none = PlacementArgs {
            clusters: Some(String::new()),
            ..PlacementArgs::default()
        };
        assert_eq!(
            none.convert_options(None, None, &AllowArgs::default())
                .expect("valid")
                .placement,
            PlacementChoice::Clusters(vec![])
        );
        let sel = PlacementArgs {
            cluster_selector: Some("region=eu".into()),
            ..PlacementArgs::default()
        };
        assert!(matches!(
            sel.convert_options(None, None, &AllowArgs::default())
                .expect("valid")
                .placement,
            PlacementChoice::ClusterSelector(_)
        ));
        let bad = PlacementArgs {
            cluster_selector: Some("region".into()),
            ..PlacementArgs::default()
        };
        let err = format!(
            "{:#}",
            bad.convert_options(None, None, &AllowArgs::default())
                .expect_err("invalid")
        );
        assert!(
            err.contains("--cluster-selector") && err.contains("not a key=value pair"),
            "{err}"
        );
    }

    #[test]
    fn overrides_file_shapes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let write = |name: &str, text: &str| {
            let p = dir.path().join(name);
            std::fs::write(&p, text).expect("write");
            p
        };
        let list = write(
            "list.yaml",
            "- clusterName: eu-1\n  clusterOverrides:\n  - path: /spec/replicas\n    value: 4\n",
        );
        let spec = write(
            "spec.json",
            r#"{"spec": {"overrides": [{"clusterName": "us-1", "clusterOverrides": []}]}}"#,
        );
        let bad = write("bad.yaml", "clusterName: eu-1\n");
        let broken = write("broken.yaml", "- a: [\n");
        let args = |p: &PathBuf| PlacementArgs {
            overrides_file: Some(p.clone()),
            overrides: vec!["eu-1:/spec/paused=true".into()],
            ..PlacementArgs::default()
        };
        let opts = args(&list)
            .convert_options(None, None, &AllowArgs::default())
            .expect("valid");
        assert_eq!(opts.overrides.len(), 1);
        assert_eq!(opts.overrides[0].cluster_overrides[0].value, Some(json!(4)));
        assert_eq!(opts.overrides[0].cluster_overrides[1].path, "/spec/paused");
        let opts = args(&spec)
            .convert_options(None, None, &AllowArgs::default())
            .expect("valid");
        assert_eq!(
            opts.overrides
                .iter()
                .map(|o| o.cluster_name.as_deref())
                .collect::<Vec<_>>(),
            [Some("us-1"), Some("eu-1")]
        );
        let err = args(&bad)
            .convert_options(None, None, &AllowArgs::default())
            .expect_err("not a list")
            .to_string();
        assert!(err.contains("expected a list of"), "{err}");
        let err = args(&broken)
            .convert_options(None, None, &AllowArgs::default())
            .expect_err("broken")
            .to_string();
        assert!(err.contains("invalid YAML or JSON"), "{err}");
    }
}
