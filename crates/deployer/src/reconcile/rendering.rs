//! An env's rendering, let go of and made again as memory asks, and the
//! desired set built from it, kept while the rendering and the kinds stay the same.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use slipway_core::model::RenderedUnit;

use crate::object::{crd_kinds, crd_plural, DesiredSet, Scope};

/// An env's rendering as a reconcile needs it: the kinds its manifests name and
/// those its CRDs define, and the rendered units themselves, which are let go
/// once the desired set is built (they take more memory than the rest of the
/// env's state) and rendered again only if they are needed once more. They are
/// let go at once when the cluster's kinds have to be looked up first, so that
/// envs waiting for discovery do not all hold their units at the same time.
pub struct Rendering {
    /// Different for every rendering of an env.
    pub generation: u64,
    /// `(apiVersion, kind)` of every manifest.
    pub wanted: BTreeSet<(String, String)>,
    /// Kinds the env's CustomResourceDefinitions define: scope and plural.
    pub crds: BTreeMap<(String, String), (Scope, String)>,
    units: std::sync::Mutex<Option<Arc<Vec<RenderedUnit>>>>,
    render: Box<dyn Fn() -> Vec<RenderedUnit> + Send + Sync>,
}

impl std::fmt::Debug for Rendering {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rendering")
            .field("generation", &self.generation)
            .finish()
    }
}

impl Rendering {
    /// A rendering of `units`; `render` renders them again after [`Rendering::release`].
    pub fn new(
        generation: u64,
        units: Vec<RenderedUnit>,
        render: impl Fn() -> Vec<RenderedUnit> + Send + Sync + 'static,
    ) -> Self {
        let mut wanted = BTreeSet::new();
        for unit in &units {
            let Ok(docs) = &unit.result else { continue };
            for doc in docs {
                let api_version = doc.get("apiVersion").and_then(|v| v.as_str()).unwrap_or_default();
                let kind = doc.get("kind").and_then(|v| v.as_str()).unwrap_or_default();
                // A document without them fails its unit: there is no kind to look up.
                if !api_version.is_empty() && !kind.is_empty() {
                    wanted.insert((api_version.to_string(), kind.to_string()));
                }
            }
        }
        let crds = crd_kinds(&units)
            .into_iter()
            .map(|((api_version, kind), scope)| {
                let group = crate::object::group_of(&api_version);
                let plural = crd_plural(&units, group, &kind).unwrap_or_else(|| kind.to_lowercase() + "s");
                ((api_version, kind), (scope, plural))
            })
            .collect();
        Rendering {
            generation,
            wanted,
            crds,
            units: std::sync::Mutex::new(Some(Arc::new(units))),
            render: Box::new(render),
        }
    }

    /// The rendered units: the kept ones, or rendered again.
    pub fn units(&self) -> Arc<Vec<RenderedUnit>> {
        let kept = self.units.lock().unwrap_or_else(|p| p.into_inner()).clone();
        kept.unwrap_or_else(|| Arc::new((self.render)()))
    }

    /// Lets go of the rendered units.
    pub fn release(&self) {
        *self.units.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }
}

/// The desired set of an env, kept while the rendered units and the scopes of
/// their kinds stay the same: building it (labels, manifest hashes) for 1,000
/// objects costs more than the rest of a reconcile that finds nothing to do.
#[derive(Default)]
pub struct DesiredCache(std::sync::Mutex<Option<DesiredEntry>>);

type DesiredEntry = (u64, BTreeMap<(String, String), Scope>, Arc<DesiredSet>);

impl DesiredCache {
    pub(super) fn get_or_build(
        &self,
        generation: u64,
        scopes: BTreeMap<(String, String), Scope>,
        build: impl FnOnce() -> DesiredSet,
    ) -> Arc<DesiredSet> {
        let mut entry = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((g, s, set)) = entry.as_ref() {
            if *g == generation && *s == scopes {
                return set.clone();
            }
        }
        let set = Arc::new(build());
        *entry = Some((generation, scopes, set.clone()));
        set
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use slipway_core::RepoSnapshot;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// The rendering of env `dev` of a repo of `files`, and how often it rendered again.
    pub(in crate::reconcile) fn counted_rendering(files: &[(&str, &str)]) -> (Rendering, Arc<AtomicUsize>) {
        let snap = Arc::new(RepoSnapshot::from_files(
            "c",
            files.iter().map(|(p, t)| (p.to_string(), t.as_bytes().to_vec())),
        ));
        let renders = Arc::new(AtomicUsize::new(0));
        let (again, count) = (snap.clone(), renders.clone());
        let rendering = Rendering::new(7, snap.render_env("dev"), move || {
            count.fetch_add(1, Ordering::SeqCst);
            again.render_env("dev")
        });
        (rendering, renders)
    }

    #[test]
    fn a_rendering_knows_its_kinds_and_renders_again_only_after_letting_go_of_its_units() {
        let crd = "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: widgets.example.com}\nspec:\n  group: example.com\n  scope: Cluster\n  names: {kind: Widget, plural: widgets}\n  versions: [{name: v1}]\n";
        let files = [
            ("dev/deployable/crd.yaml", crd),
            (
                "dev/deployable/w.yaml",
                "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n",
            ),
        ];
        let (rendering, renders) = counted_rendering(&files);
        assert!(rendering
            .wanted
            .contains(&("example.com/v1".to_string(), "Widget".to_string())));
        assert_eq!(
            rendering
                .crds
                .get(&("example.com/v1".to_string(), "Widget".to_string())),
            Some(&(Scope::Cluster, "widgets".to_string()))
        );
        assert_eq!(rendering.units().len(), 2);
        assert_eq!(renders.load(Ordering::SeqCst), 0, "kept units are not rendered again");
        rendering.release();
        assert_eq!(rendering.units().len(), 2);
        assert_eq!(renders.load(Ordering::SeqCst), 1);
    }
}
