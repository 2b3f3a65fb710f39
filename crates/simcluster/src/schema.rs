//! The Go types behind the built-in kinds' fields: JSON name, Go type and
//! protobuf field number of every field the simulator type-checks (`typecheck`)
//! or decodes from kubectl's protobuf bodies (`protobuf`).
//!
//! The table covers the fields that manifests and kubectl's generators use, not
//! every field of the real types: a field that is not listed is neither checked
//! nor decoded from protobuf (as unknown JSON fields, it is dropped).
//!
//! ```text
//!  Deployment ─ metadata: ObjectMeta
//!             └ spec: DeploymentSpec ─ selector: LabelSelector
//!                                    └ template: PodTemplateSpec ─ spec: PodSpec ─ containers: [Container]
//! ```

/// A field's Go type, as far as its JSON and protobuf forms differ.
#[derive(Debug)]
pub enum Ty {
    /// `string`.
    Str,
    /// A named string type such as `v1.Protocol` (the name appears in error messages).
    Named(&'static str),
    /// `int32`.
    Int32,
    /// `int64`.
    Int64,
    /// `bool`.
    Bool,
    /// `[]byte`: a base64 string in JSON, raw bytes in protobuf.
    Bytes,
    /// `intstr.IntOrString`: an integer or a string.
    IntOrString,
    /// `resource.Quantity`: a string (or a number) such as `500m`.
    Quantity,
    /// `metav1.Time`: an RFC 3339 string.
    Time,
    /// `map[string]T`.
    Map(&'static Ty),
    /// `[]T`.
    List(&'static Ty),
    /// A struct.
    Struct(&'static Struct),
}

/// One field of a struct.
#[derive(Debug)]
pub struct Field {
    /// JSON name.
    pub json: &'static str,
    /// Protobuf field number (from the type's `generated.proto`).
    pub pb: u32,
    /// Go type.
    pub ty: Ty,
    /// A pointer field: an explicit zero (`replicas: 0`) is a value, not "unset".
    pub pointer: bool,
}

/// A Go struct.
#[derive(Debug)]
pub struct Struct {
    /// Go type name without package (`DeploymentSpec`).
    pub go: &'static str,
    /// For elements of keyed lists (`containers` by `name`): the key fields, which
    /// server-side apply shows in paths (`containers[name="web"]`).
    pub keys: &'static [&'static str],
    /// Fields in the order the real server writes them.
    pub fields: &'static [Field],
}

impl Ty {
    /// The Go type as `encoding/json` names it in "cannot unmarshal" errors.
    pub fn go_name(&self) -> String {
        match self {
            Ty::Str | Ty::Time => "string".into(),
            Ty::Named(n) => (*n).into(),
            Ty::Int32 | Ty::IntOrString => "int32".into(),
            Ty::Int64 => "int64".into(),
            Ty::Bool => "bool".into(),
            Ty::Bytes => "[]uint8".into(),
            Ty::Quantity => "resource.Quantity".into(),
            Ty::Map(t) => format!("map[string]{}", t.go_name()),
            Ty::List(t) => format!("[]{}", t.go_name()),
            Ty::Struct(s) => format!("v1.{}", s.go),
        }
    }
}

const fn f(json: &'static str, pb: u32, ty: Ty) -> Field {
    Field {
        json,
        pb,
        ty,
        pointer: false,
    }
}

const fn ptr(json: &'static str, pb: u32, ty: Ty) -> Field {
    Field {
        json,
        pb,
        ty,
        pointer: true,
    }
}

const fn plain(go: &'static str, fields: &'static [Field]) -> Struct {
    Struct { go, keys: &[], fields }
}

static OWNER_REFERENCE: Struct = Struct {
    go: "OwnerReference",
    keys: &["uid"],
    fields: &[
        f("apiVersion", 5, Ty::Str),
        f("kind", 1, Ty::Str),
        f("name", 3, Ty::Str),
        f("uid", 4, Ty::Str),
        ptr("controller", 6, Ty::Bool),
        ptr("blockOwnerDeletion", 7, Ty::Bool),
    ],
};

static OBJECT_META: Struct = plain(
    "ObjectMeta",
    &[
        f("name", 1, Ty::Str),
        f("generateName", 2, Ty::Str),
        f("namespace", 3, Ty::Str),
        f("uid", 5, Ty::Str),
        f("resourceVersion", 6, Ty::Str),
        f("generation", 7, Ty::Int64),
        f("creationTimestamp", 8, Ty::Time),
        f("labels", 11, Ty::Map(&Ty::Str)),
        f("annotations", 12, Ty::Map(&Ty::Str)),
        f("ownerReferences", 13, Ty::List(&Ty::Struct(&OWNER_REFERENCE))),
        f("finalizers", 14, Ty::List(&Ty::Str)),
    ],
);

const fn metadata() -> Field {
    f("metadata", 1, Ty::Struct(&OBJECT_META))
}

/// Every built-in kind without a table of its own: only `metadata` is checked.
pub static METADATA_ONLY: Struct = plain("", &[metadata()]);

static CONFIG_MAP: Struct = plain(
    "ConfigMap",
    &[
        metadata(),
        ptr("immutable", 4, Ty::Bool),
        f("data", 2, Ty::Map(&Ty::Str)),
        f("binaryData", 3, Ty::Map(&Ty::Bytes)),
    ],
);

static SECRET: Struct = plain(
    "Secret",
    &[
        metadata(),
        ptr("immutable", 5, Ty::Bool),
        f("data", 2, Ty::Map(&Ty::Bytes)),
        f("stringData", 4, Ty::Map(&Ty::Str)),
        f("type", 3, Ty::Named("v1.SecretType")),
    ],
);

static NAMESPACE_SPEC: Struct = plain(
    "NamespaceSpec",
    &[f("finalizers", 1, Ty::List(&Ty::Named("v1.FinalizerName")))],
);

static NAMESPACE: Struct = plain("Namespace", &[metadata(), f("spec", 2, Ty::Struct(&NAMESPACE_SPEC))]);

static LABEL_SELECTOR_REQUIREMENT: Struct = plain(
    "LabelSelectorRequirement",
    &[
        f("key", 1, Ty::Str),
        f("operator", 2, Ty::Named("v1.LabelSelectorOperator")),
        f("values", 3, Ty::List(&Ty::Str)),
    ],
);

static LABEL_SELECTOR: Struct = plain(
    "LabelSelector",
    &[
        f("matchLabels", 1, Ty::Map(&Ty::Str)),
        f(
            "matchExpressions",
            2,
            Ty::List(&Ty::Struct(&LABEL_SELECTOR_REQUIREMENT)),
        ),
    ],
);

static CONTAINER_PORT: Struct = Struct {
    go: "ContainerPort",
    keys: &["containerPort", "protocol"],
    fields: &[
        f("name", 1, Ty::Str),
        f("hostPort", 2, Ty::Int32),
        f("containerPort", 3, Ty::Int32),
        f("protocol", 4, Ty::Named("v1.Protocol")),
        f("hostIP", 5, Ty::Str),
    ],
};

static ENV_VAR: Struct = Struct {
    go: "EnvVar",
    keys: &["name"],
    fields: &[f("name", 1, Ty::Str), f("value", 2, Ty::Str)],
};

static RESOURCE_REQUIREMENTS: Struct = plain(
    "ResourceRequirements",
    &[
        f("limits", 1, Ty::Map(&Ty::Quantity)),
        f("requests", 2, Ty::Map(&Ty::Quantity)),
    ],
);

static CONTAINER: Struct = Struct {
    go: "Container",
    keys: &["name"],
    fields: &[
        f("name", 1, Ty::Str),
        f("image", 2, Ty::Str),
        f("command", 3, Ty::List(&Ty::Str)),
        f("args", 4, Ty::List(&Ty::Str)),
        f("workingDir", 5, Ty::Str),
        f("ports", 6, Ty::List(&Ty::Struct(&CONTAINER_PORT))),
        f("env", 7, Ty::List(&Ty::Struct(&ENV_VAR))),
        f("resources", 8, Ty::Struct(&RESOURCE_REQUIREMENTS)),
        f("terminationMessagePath", 13, Ty::Str),
        f("terminationMessagePolicy", 20, Ty::Named("v1.TerminationMessagePolicy")),
        f("imagePullPolicy", 14, Ty::Named("v1.PullPolicy")),
        f("stdin", 16, Ty::Bool),
        f("tty", 18, Ty::Bool),
    ],
};

static LOCAL_OBJECT_REFERENCE: Struct = Struct {
    go: "LocalObjectReference",
    keys: &["name"],
    fields: &[f("name", 1, Ty::Str)],
};

static POD_SPEC: Struct = plain(
    "PodSpec",
    &[
        f("initContainers", 20, Ty::List(&Ty::Struct(&CONTAINER))),
        f("containers", 2, Ty::List(&Ty::Struct(&CONTAINER))),
        f("restartPolicy", 3, Ty::Named("v1.RestartPolicy")),
        ptr("terminationGracePeriodSeconds", 4, Ty::Int64),
        ptr("activeDeadlineSeconds", 5, Ty::Int64),
        f("dnsPolicy", 6, Ty::Named("v1.DNSPolicy")),
        f("nodeSelector", 7, Ty::Map(&Ty::Str)),
        f("serviceAccountName", 8, Ty::Str),
        f("hostNetwork", 11, Ty::Bool),
        f("imagePullSecrets", 15, Ty::List(&Ty::Struct(&LOCAL_OBJECT_REFERENCE))),
        f("schedulerName", 19, Ty::Str),
    ],
);

static POD_TEMPLATE_SPEC: Struct = plain("PodTemplateSpec", &[metadata(), f("spec", 2, Ty::Struct(&POD_SPEC))]);

static POD: Struct = plain("Pod", &[metadata(), f("spec", 2, Ty::Struct(&POD_SPEC))]);

static ROLLING_UPDATE_DEPLOYMENT: Struct = plain(
    "RollingUpdateDeployment",
    &[
        ptr("maxUnavailable", 1, Ty::IntOrString),
        ptr("maxSurge", 2, Ty::IntOrString),
    ],
);

static DEPLOYMENT_STRATEGY: Struct = plain(
    "DeploymentStrategy",
    &[
        f("type", 1, Ty::Named("v1.DeploymentStrategyType")),
        f("rollingUpdate", 2, Ty::Struct(&ROLLING_UPDATE_DEPLOYMENT)),
    ],
);

static DEPLOYMENT_SPEC: Struct = plain(
    "DeploymentSpec",
    &[
        ptr("replicas", 1, Ty::Int32),
        f("selector", 2, Ty::Struct(&LABEL_SELECTOR)),
        f("template", 3, Ty::Struct(&POD_TEMPLATE_SPEC)),
        f("strategy", 4, Ty::Struct(&DEPLOYMENT_STRATEGY)),
        f("minReadySeconds", 5, Ty::Int32),
        ptr("revisionHistoryLimit", 6, Ty::Int32),
        f("paused", 7, Ty::Bool),
        ptr("progressDeadlineSeconds", 9, Ty::Int32),
    ],
);

static DEPLOYMENT: Struct = plain("Deployment", &[metadata(), f("spec", 2, Ty::Struct(&DEPLOYMENT_SPEC))]);

static REPLICA_SET_SPEC: Struct = plain(
    "ReplicaSetSpec",
    &[
        ptr("replicas", 1, Ty::Int32),
        f("minReadySeconds", 4, Ty::Int32),
        f("selector", 2, Ty::Struct(&LABEL_SELECTOR)),
        f("template", 3, Ty::Struct(&POD_TEMPLATE_SPEC)),
    ],
);

static REPLICA_SET: Struct = plain("ReplicaSet", &[metadata(), f("spec", 2, Ty::Struct(&REPLICA_SET_SPEC))]);

static STATEFUL_SET_SPEC: Struct = plain(
    "StatefulSetSpec",
    &[
        ptr("replicas", 1, Ty::Int32),
        f("selector", 2, Ty::Struct(&LABEL_SELECTOR)),
        f("template", 3, Ty::Struct(&POD_TEMPLATE_SPEC)),
        f("serviceName", 5, Ty::Str),
        f("podManagementPolicy", 6, Ty::Named("v1.PodManagementPolicyType")),
        ptr("revisionHistoryLimit", 8, Ty::Int32),
        f("minReadySeconds", 9, Ty::Int32),
    ],
);

static STATEFUL_SET: Struct = plain(
    "StatefulSet",
    &[metadata(), f("spec", 2, Ty::Struct(&STATEFUL_SET_SPEC))],
);

static DAEMON_SET_SPEC: Struct = plain(
    "DaemonSetSpec",
    &[
        f("selector", 1, Ty::Struct(&LABEL_SELECTOR)),
        f("template", 2, Ty::Struct(&POD_TEMPLATE_SPEC)),
        f("minReadySeconds", 4, Ty::Int32),
        ptr("revisionHistoryLimit", 6, Ty::Int32),
    ],
);

static DAEMON_SET: Struct = plain("DaemonSet", &[metadata(), f("spec", 2, Ty::Struct(&DAEMON_SET_SPEC))]);

static JOB_SPEC: Struct = plain(
    "JobSpec",
    &[
        ptr("parallelism", 1, Ty::Int32),
        ptr("completions", 2, Ty::Int32),
        ptr("activeDeadlineSeconds", 3, Ty::Int64),
        ptr("backoffLimit", 7, Ty::Int32),
        f("selector", 4, Ty::Struct(&LABEL_SELECTOR)),
        ptr("manualSelector", 5, Ty::Bool),
        f("template", 6, Ty::Struct(&POD_TEMPLATE_SPEC)),
        ptr("ttlSecondsAfterFinished", 8, Ty::Int32),
        ptr("completionMode", 9, Ty::Named("v1.CompletionMode")),
        ptr("suspend", 10, Ty::Bool),
    ],
);

static JOB: Struct = plain("Job", &[metadata(), f("spec", 2, Ty::Struct(&JOB_SPEC))]);

static JOB_TEMPLATE_SPEC: Struct = plain("JobTemplateSpec", &[metadata(), f("spec", 2, Ty::Struct(&JOB_SPEC))]);

static CRON_JOB_SPEC: Struct = plain(
    "CronJobSpec",
    &[
        f("schedule", 1, Ty::Str),
        ptr("timeZone", 8, Ty::Str),
        ptr("startingDeadlineSeconds", 2, Ty::Int64),
        f("concurrencyPolicy", 3, Ty::Named("v1.ConcurrencyPolicy")),
        ptr("suspend", 4, Ty::Bool),
        f("jobTemplate", 5, Ty::Struct(&JOB_TEMPLATE_SPEC)),
        ptr("successfulJobsHistoryLimit", 6, Ty::Int32),
        ptr("failedJobsHistoryLimit", 7, Ty::Int32),
    ],
);

static CRON_JOB: Struct = plain("CronJob", &[metadata(), f("spec", 2, Ty::Struct(&CRON_JOB_SPEC))]);

static SERVICE_PORT: Struct = Struct {
    go: "ServicePort",
    keys: &["port", "protocol"],
    fields: &[
        f("name", 1, Ty::Str),
        f("protocol", 2, Ty::Named("v1.Protocol")),
        ptr("appProtocol", 6, Ty::Str),
        f("port", 3, Ty::Int32),
        f("targetPort", 4, Ty::IntOrString),
        f("nodePort", 5, Ty::Int32),
    ],
};

static SERVICE_SPEC: Struct = plain(
    "ServiceSpec",
    &[
        f("ports", 1, Ty::List(&Ty::Struct(&SERVICE_PORT))),
        f("selector", 2, Ty::Map(&Ty::Str)),
        f("clusterIP", 3, Ty::Str),
        f("clusterIPs", 18, Ty::List(&Ty::Str)),
        f("type", 4, Ty::Named("v1.ServiceType")),
        f("externalIPs", 5, Ty::List(&Ty::Str)),
        f("sessionAffinity", 7, Ty::Named("v1.ServiceAffinity")),
        f("externalName", 10, Ty::Str),
    ],
);

static SERVICE: Struct = plain("Service", &[metadata(), f("spec", 2, Ty::Struct(&SERVICE_SPEC))]);

static SERVICE_ACCOUNT: Struct = plain(
    "ServiceAccount",
    &[
        metadata(),
        f("imagePullSecrets", 3, Ty::List(&Ty::Struct(&LOCAL_OBJECT_REFERENCE))),
        ptr("automountServiceAccountToken", 4, Ty::Bool),
    ],
);

static POLICY_RULE: Struct = plain(
    "PolicyRule",
    &[
        f("verbs", 1, Ty::List(&Ty::Str)),
        f("apiGroups", 2, Ty::List(&Ty::Str)),
        f("resources", 3, Ty::List(&Ty::Str)),
        f("resourceNames", 4, Ty::List(&Ty::Str)),
        f("nonResourceURLs", 5, Ty::List(&Ty::Str)),
    ],
);

static ROLE: Struct = plain(
    "Role",
    &[metadata(), f("rules", 2, Ty::List(&Ty::Struct(&POLICY_RULE)))],
);

static CLUSTER_ROLE: Struct = plain(
    "ClusterRole",
    &[metadata(), f("rules", 2, Ty::List(&Ty::Struct(&POLICY_RULE)))],
);

static SUBJECT: Struct = plain(
    "Subject",
    &[
        f("kind", 1, Ty::Str),
        f("apiGroup", 2, Ty::Str),
        f("name", 3, Ty::Str),
        f("namespace", 4, Ty::Str),
    ],
);

static ROLE_REF: Struct = plain(
    "RoleRef",
    &[f("apiGroup", 1, Ty::Str), f("kind", 2, Ty::Str), f("name", 3, Ty::Str)],
);

static ROLE_BINDING: Struct = plain(
    "RoleBinding",
    &[
        metadata(),
        f("subjects", 2, Ty::List(&Ty::Struct(&SUBJECT))),
        f("roleRef", 3, Ty::Struct(&ROLE_REF)),
    ],
);

static CLUSTER_ROLE_BINDING: Struct = plain(
    "ClusterRoleBinding",
    &[
        metadata(),
        f("subjects", 2, Ty::List(&Ty::Struct(&SUBJECT))),
        f("roleRef", 3, Ty::Struct(&ROLE_REF)),
    ],
);

static LEASE_SPEC: Struct = plain(
    "LeaseSpec",
    &[
        ptr("holderIdentity", 1, Ty::Str),
        ptr("leaseDurationSeconds", 2, Ty::Int32),
        ptr("acquireTime", 3, Ty::Time),
        ptr("renewTime", 4, Ty::Time),
        ptr("leaseTransitions", 5, Ty::Int32),
    ],
);

static LEASE: Struct = plain("Lease", &[metadata(), f("spec", 2, Ty::Struct(&LEASE_SPEC))]);

/// The table of a built-in kind, when it has one beyond `metadata`.
pub fn of(group: &str, kind: &str) -> Option<&'static Struct> {
    Some(match (group, kind) {
        ("", "ConfigMap") => &CONFIG_MAP,
        ("", "Secret") => &SECRET,
        ("", "Namespace") => &NAMESPACE,
        ("", "Service") => &SERVICE,
        ("", "Pod") => &POD,
        ("apps", "Deployment") => &DEPLOYMENT,
        ("apps", "ReplicaSet") => &REPLICA_SET,
        ("apps", "StatefulSet") => &STATEFUL_SET,
        ("apps", "DaemonSet") => &DAEMON_SET,
        ("batch", "Job") => &JOB,
        ("batch", "CronJob") => &CRON_JOB,
        ("", "ServiceAccount") => &SERVICE_ACCOUNT,
        ("rbac.authorization.k8s.io", "Role") => &ROLE,
        ("rbac.authorization.k8s.io", "ClusterRole") => &CLUSTER_ROLE,
        ("rbac.authorization.k8s.io", "RoleBinding") => &ROLE_BINDING,
        ("rbac.authorization.k8s.io", "ClusterRoleBinding") => &CLUSTER_ROLE_BINDING,
        ("coordination.k8s.io", "Lease") => &LEASE,
        _ => return None,
    })
}
