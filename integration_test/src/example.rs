//! The example resource repo of the playground, the end-to-end tests and the benchmark.

use std::fmt::Write as _;

/// What to put in the generated repo.
#[derive(Debug, Clone)]
pub struct ExampleRepo {
    /// Services with base/version files, each a Deployment and a Service.
    pub services: Vec<String>,
    /// Deployed environments in promotion order after the source env `latest`.
    pub envs: Vec<String>,
    /// Add `redis` as a `deployable/` file to every deployed env.
    pub with_deployable: bool,
    /// `progressDeadlineSeconds` of every Deployment.
    pub progress_deadline_secs: u32,
    /// Cron schedule of the transition into the last env (`None`: no schedule).
    pub last_schedule: Option<String>,
    /// Name of the cluster connection in the deployer config.
    pub cluster: String,
    /// Namespace prefix: env `dev` goes to `<prefix>dev`.
    pub namespace_prefix: String,
    /// The image every service runs (`None`: `registry.example/<service>:<version>`,
    /// which only a simulated cluster runs).
    pub image: Option<String>,
    /// Replicas of every service's Deployment.
    pub replicas: u32,
}

impl Default for ExampleRepo {
    fn default() -> Self {
        ExampleRepo {
            services: vec!["web".into(), "api".into()],
            envs: vec!["dev".into(), "pp".into(), "prod".into()],
            with_deployable: true,
            progress_deadline_secs: 20,
            last_schedule: Some("0 */2 * * * *".into()),
            cluster: "local".into(),
            namespace_prefix: "slipway-".into(),
            image: None,
            replicas: 2,
        }
    }
}

/// The version file of a service at a version, as the default example writes it.
pub fn version_file(service: &str, version: &str) -> String {
    ExampleRepo::default().version_file(service, version)
}

/// The base file of a service: a Deployment and a Service.
pub fn base_file(service: &str, progress_deadline_secs: u32) -> String {
    let name = service.replace('/', "-");
    format!(
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  labels: {{app: {name}}}
spec:
  replicas: ${{replicas}}
  progressDeadlineSeconds: {progress_deadline_secs}
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
      annotations: {{example.com/version: "${{version}}"}}
    spec:
      containers:
        - name: {name}
          image: ${{image}}
          ports:
            - containerPort: 8080
          env:
            - name: VERSION
              value: "${{version}}"
---
apiVersion: v1
kind: Service
metadata:
  name: {name}
spec:
  selector: {{app: {name}}}
  ports:
    - port: 80
      targetPort: 8080
"#
    )
}

const REDIS: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: redis
  labels: {app: redis}
spec:
  replicas: 1
  selector:
    matchLabels: {app: redis}
  template:
    metadata:
      labels: {app: redis}
    spec:
      containers:
        - name: redis
          image: redis:7.4
          ports:
            - containerPort: 6379
---
apiVersion: v1
kind: Service
metadata:
  name: redis
spec:
  selector: {app: redis}
  ports:
    - port: 6379
"#;

fn indent(text: &str, by: usize) -> String {
    let pad = " ".repeat(by);
    text.lines().map(|l| format!("{pad}{l}\n")).collect()
}

impl ExampleRepo {
    /// The version file of a service at a version.
    pub fn version_file(&self, service: &str, version: &str) -> String {
        let image = match &self.image {
            Some(image) => image.clone(),
            None => format!("registry.example/{}:{version}", service.replace('/', "-")),
        };
        format!(
            "version: \"{version}\"\nimage: \"{image}\"\nreplicas: {}\n",
            self.replicas
        )
    }

    /// The `git_fixture` definition: one initial commit with every env at version 1.0.0.
    pub fn fixture_yaml(&self) -> String {
        let mut files: Vec<(String, String)> = Vec::new();
        let mut deployers = String::from("deployers:\n");
        for env in &self.envs {
            let _ = writeln!(
                deployers,
                "  {env}: {{cluster: {}, namespace: {}{env}}}",
                self.cluster, self.namespace_prefix
            );
        }
        files.push(("deployers.yaml".into(), deployers));
        let mut transitions = String::from("transitions:\n");
        let mut source = "latest".to_string();
        for (i, env) in self.envs.iter().enumerate() {
            let _ = write!(transitions, "  {env}:\n    source: {source}\n    target: {env}\n");
            if i > 0 {
                transitions.push_str("    preconditions: [SourceClean]\n");
            }
            if i + 1 == self.envs.len() && i > 0 {
                if let Some(schedule) = &self.last_schedule {
                    let _ = writeln!(transitions, "    schedule: \"{schedule}\"");
                }
            }
            source = env.clone();
        }
        files.push(("transitions.yaml".into(), transitions));
        for service in &self.services {
            files.push((
                format!("latest/version/{service}.yaml"),
                self.version_file(service, "1.0.0"),
            ));
            for env in &self.envs {
                files.push((
                    format!("{env}/version/{service}.yaml"),
                    self.version_file(service, "1.0.0"),
                ));
                files.push((
                    format!("{env}/base/{service}.yaml"),
                    base_file(service, self.progress_deadline_secs),
                ));
            }
        }
        if self.with_deployable {
            for env in &self.envs {
                files.push((format!("{env}/deployable/redis.yaml"), REDIS.to_string()));
            }
        }
        let mut out = String::from("commits:\n  - message: \"Example environments: latest, ");
        out.push_str(&self.envs.join(", "));
        out.push_str("\"\n    author: slipway-playground\n    files:\n");
        for (path, text) in files {
            let _ = writeln!(out, "      {path}: |");
            out.push_str(&indent(&text, 8));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_repo_renders_cleanly_in_every_env() {
        let t = git_fixture::temp(&ExampleRepo::default().fixture_yaml()).unwrap();
        let files: Vec<(String, Vec<u8>)> = t
            .paths()
            .into_iter()
            .map(|p| {
                let text = t.read(&p).unwrap();
                (p, text.into_bytes())
            })
            .collect();
        let snap = slipway_core::RepoSnapshot::from_files("x", files);
        assert_eq!(snap.envs(), vec!["dev", "latest", "pp", "prod"]);
        assert!(snap.env_files("latest").is_source_only());
        assert_eq!(snap.transitions().unwrap().len(), 3);
        assert!(snap.transitions().unwrap()[2].schedule.is_some());
        assert_eq!(snap.deployers().unwrap().deployers.len(), 3);
        for env in ["dev", "pp", "prod"] {
            let units = snap.render_env(env);
            assert_eq!(units.len(), 3, "web, api and the redis deployable in {env}");
            for u in units {
                let docs = u.result.unwrap();
                assert_eq!(docs.len(), 2);
            }
        }
        let web = &snap.render_env("dev")[1];
        let docs = web.result.as_ref().unwrap();
        assert_eq!(docs[0]["spec"]["replicas"], serde_yaml::Value::from(2));
    }

    #[test]
    fn a_given_image_and_replica_count_go_into_every_version_file() {
        let example = ExampleRepo {
            image: Some("registry.k8s.io/pause:3.10".into()),
            replicas: 1,
            ..ExampleRepo::default()
        };
        assert_eq!(
            example.version_file("team-a/api", "2.0.0"),
            "version: \"2.0.0\"\nimage: \"registry.k8s.io/pause:3.10\"\nreplicas: 1\n"
        );
        assert_eq!(
            version_file("team-a/api", "2.0.0"),
            "version: \"2.0.0\"\nimage: \"registry.example/team-a-api:2.0.0\"\nreplicas: 2\n"
        );
        assert!(example.fixture_yaml().contains("image: \"registry.k8s.io/pause:3.10\""));
    }
}
