//! [`Lookup`] over a set of manifests: what `gko validate` resolves references against.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Range;
use std::sync::{Arc, OnceLock};

use serde_json::Value;

use crate::admission::lookup::{api_entrypoints_of, api_v4_entrypoints_of, Lookup};
use crate::cluster::ApiIndex;
use crate::crd::{ApiDefinition, ApiResource, ApiV4Definition, Kind, ManagementContext};
use crate::model::{ApiEntrypoint, ApiLinks, Entrypoint, ObjectKey};

/// The objects found in a set of files, keyed by `namespace/name`. A later document with the same
/// kind and key replaces an earlier one, as `kubectl apply -f` would.
#[derive(Default, Clone)]
pub struct ManifestSet {
    contexts: HashMap<ObjectKey, Arc<ManagementContext>>,
    resources: HashMap<ObjectKey, Arc<ApiResource>>,
    apis: HashMap<String, Vec<Arc<ApiDefinition>>>,
    v4_apis: HashMap<String, Vec<Arc<ApiV4Definition>>>,
    secrets: HashMap<ObjectKey, BTreeSet<String>>,
    config_maps: HashMap<ObjectKey, BTreeSet<String>>,
    /// The text values of ConfigMaps (`data`), for templates resolved before they are checked.
    config_map_values: HashMap<ObjectKey, BTreeMap<String, String>>,
    /// The entrypoints of `apis` and `v4_apis`, built on first use: every API of a set is checked
    /// against every other, and normalising their paths each time dominated `gko validate`.
    entrypoints: OnceLock<EntrypointIndex>,
    /// The same entrypoints by path, as the cluster cache indexes them (v2, v4), built on first use:
    /// a clash check is then a few lookups instead of a comparison with every API of the set.
    path_indexes: OnceLock<Arc<[ApiIndex; 2]>>,
}

/// All entrypoints grouped by namespace, and where each namespace's group is.
#[derive(Default, Clone)]
struct EntrypointIndex {
    all: Vec<ApiEntrypoint>,
    namespaces: HashMap<String, Range<usize>>,
}

impl EntrypointIndex {
    fn build(
        apis: &HashMap<String, Vec<Arc<ApiDefinition>>>,
        v4_apis: &HashMap<String, Vec<Arc<ApiV4Definition>>>,
    ) -> Self {
        let mut index = EntrypointIndex::default();
        let mut namespaces: Vec<&String> = apis.keys().chain(v4_apis.keys()).collect();
        namespaces.sort();
        namespaces.dedup();
        for ns in namespaces {
            let start = index.all.len();
            index
                .all
                .extend(api_entrypoints_of(apis.get(ns).map_or(&[], Vec::as_slice)));
            index.all.extend(api_v4_entrypoints_of(
                v4_apis.get(ns).map_or(&[], Vec::as_slice),
            ));
            index.namespaces.insert(ns.clone(), start..index.all.len());
        }
        index
    }
}

fn key_of<K: kube::Resource>(object: &K) -> ObjectKey {
    let meta = object.meta();
    ObjectKey::new(
        meta.namespace.clone().unwrap_or_default(),
        meta.name.clone().unwrap_or_default(),
    )
}

/// What [`ManifestSet::insert`] did with a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inserted {
    Added,
    /// An object of the same kind and `namespace/name` was already there and is replaced.
    Replaced,
    /// Not a kind the set keeps, or not decodable as that kind.
    Ignored,
}

impl ManifestSet {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a document (already parsed) whose effective namespace is `namespace`.
    pub fn insert(&mut self, namespace: &str, doc: &Value) -> Inserted {
        self.entrypoints = OnceLock::new();
        self.path_indexes = OnceLock::new();
        let kind = doc.get("kind").and_then(Value::as_str).unwrap_or_default();
        let api_version = doc
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let Some(name) = doc.pointer("/metadata/name").and_then(Value::as_str) else {
            return Inserted::Ignored;
        };
        let key = ObjectKey::new(namespace, name);
        let mut with_ns = doc.clone();
        if let Some(meta) = with_ns.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.insert("namespace".into(), Value::String(namespace.into()));
        }
        match (api_version, kind) {
            ("v1", "Secret") => {
                let keys = data_keys(doc, &["data", "stringData"]);
                replaced(self.secrets.insert(key, keys).is_some())
            }
            ("v1", "ConfigMap") => {
                let keys = data_keys(doc, &["data", "binaryData"]);
                let values = doc
                    .get("data")
                    .and_then(Value::as_object)
                    .into_iter()
                    .flatten()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                    .collect();
                self.config_map_values.insert(key.clone(), values);
                replaced(self.config_maps.insert(key, keys).is_some())
            }
            (crate::crd::API_VERSION, "ManagementContext") => {
                match serde_json::from_value::<ManagementContext>(with_ns) {
                    Ok(obj) => replaced(self.contexts.insert(key, Arc::new(obj)).is_some()),
                    Err(_) => Inserted::Ignored,
                }
            }
            (crate::crd::API_VERSION, "ApiResource") => {
                match serde_json::from_value::<ApiResource>(with_ns) {
                    Ok(obj) => replaced(self.resources.insert(key, Arc::new(obj)).is_some()),
                    Err(_) => Inserted::Ignored,
                }
            }
            (crate::crd::API_VERSION, "ApiDefinition") => {
                match serde_json::from_value::<ApiDefinition>(with_ns) {
                    Ok(obj) => upsert(self.apis.entry(key.namespace).or_default(), name, obj),
                    Err(_) => Inserted::Ignored,
                }
            }
            (crate::crd::API_VERSION, "ApiV4Definition") => {
                match serde_json::from_value::<ApiV4Definition>(with_ns) {
                    Ok(obj) => upsert(self.v4_apis.entry(key.namespace).or_default(), name, obj),
                    Err(_) => Inserted::Ignored,
                }
            }
            _ => Inserted::Ignored,
        }
    }
}

/// Puts `obj` in `list`, replacing the object of the same name.
fn upsert<K: kube::Resource>(list: &mut Vec<Arc<K>>, name: &str, obj: K) -> Inserted {
    let obj = Arc::new(obj);
    match list
        .iter_mut()
        .find(|a| a.meta().name.as_deref() == Some(name))
    {
        Some(slot) => {
            *slot = obj;
            Inserted::Replaced
        }
        None => {
            list.push(obj);
            Inserted::Added
        }
    }
}

impl ManifestSet {
    /// The ApiDefinitions of one namespace, or of every namespace with `None`.
    pub fn api_definitions(&self, namespace: Option<&str>) -> Vec<Arc<ApiDefinition>> {
        match namespace {
            Some(ns) => self.apis.get(ns).cloned().unwrap_or_default(),
            None => self.apis.values().flatten().cloned().collect(),
        }
    }

    /// The ApiV4Definitions of one namespace, or of every namespace with `None`.
    pub fn api_v4_definitions(&self, namespace: Option<&str>) -> Vec<Arc<ApiV4Definition>> {
        match namespace {
            Some(ns) => self.v4_apis.get(ns).cloned().unwrap_or_default(),
            None => self.v4_apis.values().flatten().cloned().collect(),
        }
    }

    /// The APIs, v2 and v4, whose links satisfy `uses` (a scan: a set of files is small).
    fn users(&self, uses: impl Fn(&ApiLinks) -> bool) -> Vec<(Kind, ObjectKey)> {
        let key = |meta: &kube::api::ObjectMeta| {
            ObjectKey::new(
                meta.namespace.clone().unwrap_or_default(),
                meta.name.clone().unwrap_or_default(),
            )
        };
        let v2 = self
            .apis
            .values()
            .flatten()
            .filter(|api| uses(&ApiLinks::of(api)))
            .map(|api| (Kind::ApiDefinition, key(&api.metadata)));
        let v4 = self
            .v4_apis
            .values()
            .flatten()
            .filter(|api| uses(&ApiLinks::of_v4(api)))
            .map(|api| (Kind::ApiV4Definition, key(&api.metadata)));
        v2.chain(v4).collect()
    }
}

fn replaced(was_there: bool) -> Inserted {
    if was_there {
        Inserted::Replaced
    } else {
        Inserted::Added
    }
}

fn data_keys(doc: &Value, fields: &[&str]) -> BTreeSet<String> {
    fields
        .iter()
        .filter_map(|f| doc.get(*f).and_then(Value::as_object))
        .flat_map(|m| m.keys().cloned())
        .collect()
}

impl Lookup for ManifestSet {
    fn management_context(&self, namespace: &str, name: &str) -> Option<Arc<ManagementContext>> {
        self.contexts.get(&ObjectKey::new(namespace, name)).cloned()
    }

    fn api_resource(&self, namespace: &str, name: &str) -> Option<Arc<ApiResource>> {
        self.resources
            .get(&ObjectKey::new(namespace, name))
            .cloned()
    }

    fn secret_keys(&self, namespace: &str, name: &str) -> Option<BTreeSet<String>> {
        self.secrets.get(&ObjectKey::new(namespace, name)).cloned()
    }

    fn config_map_keys(&self, namespace: &str, name: &str) -> Option<BTreeSet<String>> {
        self.config_maps
            .get(&ObjectKey::new(namespace, name))
            .cloned()
    }

    fn config_map_value(&self, namespace: &str, name: &str, key: &str) -> Option<String> {
        self.config_map_values
            .get(&ObjectKey::new(namespace, name))?
            .get(key)
            .cloned()
    }

    fn secret_value(&self, _: &str, _: &str, _: &str) -> Option<String> {
        None
    }

    fn context_users(&self, context: &ObjectKey) -> Vec<(Kind, ObjectKey)> {
        self.users(|links| links.context.as_ref() == Some(context))
    }

    fn resource_users(&self, resource: &ObjectKey) -> Vec<(Kind, ObjectKey)> {
        self.users(|links| links.resources.contains(resource))
    }

    fn clashing_entrypoints(
        &self,
        namespace: Option<&str>,
        entrypoint: &Entrypoint,
    ) -> Vec<ApiEntrypoint> {
        let [v2, v4] = &**self.path_indexes.get_or_init(|| {
            let v2 = ApiIndex::new(Kind::ApiDefinition);
            for api in self.apis.values().flatten() {
                v2.apply(key_of(&**api), ApiLinks::of(api));
            }
            let v4 = ApiIndex::new(Kind::ApiV4Definition);
            for api in self.v4_apis.values().flatten() {
                v4.apply(key_of(&**api), ApiLinks::of_v4(api));
            }
            Arc::new([v2, v4])
        });
        let mut found = v2.clashing(namespace, entrypoint);
        found.extend(v4.clashing(namespace, entrypoint));
        found
    }

    fn api_entrypoints(&self, namespace: Option<&str>) -> Cow<'_, [ApiEntrypoint]> {
        let index = self
            .entrypoints
            .get_or_init(|| EntrypointIndex::build(&self.apis, &self.v4_apis));
        let range = match namespace {
            None => 0..index.all.len(),
            Some(ns) => index.namespaces.get(ns).cloned().unwrap_or_default(),
        };
        Cow::Borrowed(index.all.get(range).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn later_document_replaces_earlier_one() {
        let mut set = ManifestSet::new();
        let ctx = |url: &str| {
            json!({"apiVersion": "gravitee.io/v1alpha1", "kind": "ManagementContext",
                   "metadata": {"name": "dev"}, "spec": {"baseUrl": url}})
        };
        assert_eq!(set.insert("default", &ctx("http://a")), Inserted::Added);
        assert_eq!(set.insert("default", &ctx("http://b")), Inserted::Replaced);
        let got = set
            .management_context("default", "dev")
            .map(|c| c.spec.base_url.clone());
        assert_eq!(got, Some(Some("http://b".to_string())));
        assert!(set.management_context("other", "dev").is_none());
    }

    #[test]
    fn secrets_keep_keys_only() {
        let mut set = ManifestSet::new();
        let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
                            "stringData": {"bearerToken": "t"}, "data": {"x": "eA=="}});
        set.insert("ns", &secret);
        let keys = set.secret_keys("ns", "s").unwrap_or_default();
        assert_eq!(
            keys.into_iter().collect::<Vec<_>>(),
            vec!["bearerToken", "x"]
        );
    }

    fn entrypoints(set: &ManifestSet, namespace: Option<&str>) -> Vec<String> {
        set.api_entrypoints(namespace)
            .iter()
            .map(|e| format!("{} {}", e.api, e.entrypoint))
            .collect()
    }

    #[test]
    fn entrypoints_follow_inserts_and_skip_apis_being_deleted() {
        let api = |name: &str, path: &str| {
            json!({"apiVersion": "gravitee.io/v1alpha1", "kind": "ApiDefinition",
                   "metadata": {"name": name},
                   "spec": {"proxy": {"virtual_hosts": [{"path": path}, {"host": "H", "path": ""}]}}})
        };
        let mut set = ManifestSet::new();
        set.insert("a", &api("x", "/x/"));
        assert_eq!(entrypoints(&set, Some("a")), vec!["a/x /x"]);
        set.insert("b", &api("y", "/y"));
        set.insert("a", &api("x", "/x2"));
        let mut deleting = api("z", "/z");
        deleting["metadata"]["deletionTimestamp"] = json!("2024-01-01T00:00:00Z");
        set.insert("a", &deleting);
        assert_eq!(entrypoints(&set, Some("a")), vec!["a/x /x2"]);
        assert_eq!(entrypoints(&set, None), vec!["a/x /x2", "b/y /y"]);
        assert!(entrypoints(&set, Some("c")).is_empty());
        // The default implementation agrees.
        let default = api_entrypoints_of(&set.api_definitions(Some("a")));
        assert_eq!(default.as_slice(), &*set.api_entrypoints(Some("a")));
    }

    #[test]
    fn clash_lookups_agree_with_comparing_every_entrypoint() {
        let api = |name: &str, host: Option<&str>, path: &str| {
            json!({"apiVersion": "gravitee.io/v1alpha1", "kind": "ApiDefinition",
                   "metadata": {"name": name},
                   "spec": {"proxy": {"virtual_hosts": [{"host": host, "path": path}]}}})
        };
        let mut set = ManifestSet::new();
        for (ns, name, host, path) in [
            ("a", "root", None, "/"),
            ("a", "orders", None, "/orders"),
            ("a", "orders-v2", None, "/orders/v2"),
            ("a", "ordersx", None, "/ordersx"),
            ("a", "hosted", Some("api.example.com"), "/orders"),
            ("b", "other-ns", None, "/orders"),
        ] {
            set.insert(ns, &api(name, host, path));
        }
        let describe = |found: Vec<ApiEntrypoint>| {
            let mut v: Vec<String> = found
                .iter()
                .map(|e| format!("{} {}", e.api, e.entrypoint))
                .collect();
            v.sort();
            v
        };
        for probe in [
            "/",
            "/orders",
            "/orders/v2/items",
            "/order",
            "/ordersx/y",
            "/pay",
        ] {
            for host in [None, Some("api.example.com")] {
                let e = Entrypoint::new(host, probe);
                for ns in [Some("a"), None] {
                    let pairwise: Vec<ApiEntrypoint> = set
                        .api_entrypoints(ns)
                        .iter()
                        .filter(|o| e.clashes_with(&o.entrypoint))
                        .cloned()
                        .collect();
                    assert_eq!(
                        describe(set.clashing_entrypoints(ns, &e)),
                        describe(pairwise),
                        "{host:?} {probe} in {ns:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn unknown_kinds_are_ignored() {
        let mut set = ManifestSet::new();
        let doc = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}});
        assert_eq!(set.insert("ns", &doc), Inserted::Ignored);
    }
}
