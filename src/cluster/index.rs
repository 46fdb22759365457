//! The ApiDefinition index of the cluster cache: each API's links ([`ApiLinks`]) and the reverse maps
//! the webhook and the reconciler query (who uses a context or a resource, which entrypoints clash),
//! updated on every watch event instead of scanning every API per question.
//!
//! Relists are namespace-scoped: a relist of one namespace (`begin_relist`, applies, `end_relist`)
//! drops the entries of that namespace it did not see, and never touches the others.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::crd::Kind;
use crate::model::{ApiEntrypoint, ApiLinks, Entrypoint, ObjectKey};

/// Reverse map: target → the APIs pointing at it.
type Reverse = HashMap<ObjectKey, BTreeSet<ObjectKey>>;

#[derive(Default)]
struct Inner {
    links: HashMap<ObjectKey, ApiLinks>,
    by_context: Reverse,
    by_synced_context: Reverse,
    by_resource: Reverse,
    /// (host, path) → APIs with that entrypoint, APIs being deleted excluded.
    entrypoints: BTreeMap<(String, String), BTreeSet<ObjectKey>>,
    /// Keys seen since a relist began, per relisted scope (`None`: every namespace).
    relisting: HashMap<Option<String>, HashSet<ObjectKey>>,
}

/// The index of one API kind (ApiDefinition or ApiV4Definition: the cache holds one of each, and
/// the lookups ask both, so v2 and v4 APIs share one path space); cheap to share behind an `Arc`.
pub struct ApiIndex {
    kind: Kind,
    inner: RwLock<Inner>,
}

impl Default for ApiIndex {
    fn default() -> Self {
        ApiIndex::new(Kind::ApiDefinition)
    }
}

fn add(map: &mut Reverse, target: &ObjectKey, api: &ObjectKey) {
    map.entry(target.clone()).or_default().insert(api.clone());
}

fn remove(map: &mut Reverse, target: &ObjectKey, api: &ObjectKey) {
    if let Some(set) = map.get_mut(target) {
        set.remove(api);
        if set.is_empty() {
            map.remove(target);
        }
    }
}

impl Inner {
    fn unlink(&mut self, key: &ObjectKey) {
        let Some(old) = self.links.remove(key) else {
            return;
        };
        if let Some(c) = &old.context {
            remove(&mut self.by_context, c, key);
        }
        if let Some(c) = &old.synced_context {
            remove(&mut self.by_synced_context, c, key);
        }
        for r in &old.resources {
            remove(&mut self.by_resource, r, key);
        }
        for e in &old.entrypoints {
            let slot = (e.host.clone(), e.path.clone());
            if let Some(set) = self.entrypoints.get_mut(&slot) {
                set.remove(key);
                if set.is_empty() {
                    self.entrypoints.remove(&slot);
                }
            }
        }
    }

    fn link(&mut self, key: ObjectKey, links: ApiLinks) {
        if let Some(c) = &links.context {
            add(&mut self.by_context, c, &key);
        }
        if let Some(c) = &links.synced_context {
            add(&mut self.by_synced_context, c, &key);
        }
        for r in &links.resources {
            add(&mut self.by_resource, r, &key);
        }
        if !links.deleting {
            for e in &links.entrypoints {
                self.entrypoints
                    .entry((e.host.clone(), e.path.clone()))
                    .or_default()
                    .insert(key.clone());
            }
        }
        self.links.insert(key, links);
    }
}

impl ApiIndex {
    /// An empty index of the APIs of `kind`.
    pub fn new(kind: Kind) -> Self {
        ApiIndex {
            kind,
            inner: RwLock::default(),
        }
    }

    /// The kind of the APIs indexed.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    fn read(&self) -> RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Records (or replaces) the links of `key`.
    pub fn apply(&self, key: ObjectKey, links: ApiLinks) {
        let mut inner = self.write();
        for (scope, seen) in inner.relisting.iter_mut() {
            if scope.as_deref().is_none_or(|ns| ns == key.namespace) {
                seen.insert(key.clone());
            }
        }
        if inner.links.get(&key) == Some(&links) {
            return;
        }
        inner.unlink(&key);
        inner.link(key, links);
    }

    pub fn delete(&self, key: &ObjectKey) {
        self.write().unlink(key);
    }

    /// A relist of `namespace` (every namespace with `None`) begins.
    pub fn begin_relist(&self, namespace: Option<&str>) {
        self.write()
            .relisting
            .insert(namespace.map(str::to_owned), HashSet::new());
    }

    /// The relist of `namespace` is complete: entries of that scope it did not deliver are dropped.
    pub fn end_relist(&self, namespace: Option<&str>) {
        let mut inner = self.write();
        let Some(seen) = inner.relisting.remove(&namespace.map(str::to_owned)) else {
            return;
        };
        let stale: Vec<ObjectKey> = inner
            .links
            .keys()
            .filter(|k| namespace.is_none_or(|ns| ns == k.namespace) && !seen.contains(*k))
            .cloned()
            .collect();
        for key in &stale {
            inner.unlink(key);
        }
    }

    pub fn len(&self) -> usize {
        self.read().links.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The links of one API.
    pub fn links(&self, key: &ObjectKey) -> Option<ApiLinks> {
        self.read().links.get(key).cloned()
    }

    /// APIs whose `contextRef` is `context`.
    pub fn context_users(&self, context: &ObjectKey) -> Vec<ObjectKey> {
        let inner = self.read();
        inner
            .by_context
            .get(context)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// APIs whose `contextRef` or last synced context is `context`.
    pub fn context_or_synced_users(&self, context: &ObjectKey) -> Vec<ObjectKey> {
        let inner = self.read();
        let mut users: BTreeSet<ObjectKey> = BTreeSet::new();
        for map in [&inner.by_context, &inner.by_synced_context] {
            users.extend(map.get(context).into_iter().flatten().cloned());
        }
        users.into_iter().collect()
    }

    /// APIs with a `resources[].ref` to `resource`.
    pub fn resource_users(&self, resource: &ObjectKey) -> Vec<ObjectKey> {
        let inner = self.read();
        inner
            .by_resource
            .get(resource)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Entrypoints of APIs in `namespace` (every namespace with `None`), not being deleted, that clash
    /// with `e`: the same host and a path equal to, or a whole-segment prefix either way of, `e.path`.
    /// Found by lookups (the prefixes of `e.path`) and one range (the paths under it), not by a scan.
    pub fn clashing(&self, namespace: Option<&str>, e: &Entrypoint) -> Vec<ApiEntrypoint> {
        let inner = self.read();
        let mut found: Vec<(&(String, String), &ObjectKey)> = Vec::new();
        // Paths that are `e.path` or one of its segment prefixes (including `/`).
        for prefix in segment_prefixes(&e.path) {
            if let Some((slot, apis)) = inner
                .entrypoints
                .get_key_value(&(e.host.clone(), prefix.to_owned()))
            {
                found.extend(apis.iter().map(|api| (slot, api)));
            }
        }
        // Paths below `e.path` (every path when `e.path` is `/`).
        let below = if e.path == "/" {
            String::from("/")
        } else {
            format!("{}/", e.path)
        };
        let end = format!("{}\u{10FFFF}", below);
        for (slot, apis) in inner
            .entrypoints
            .range((e.host.clone(), below)..(e.host.clone(), end))
        {
            if slot.1 != e.path && !(e.path == "/" && slot.1 == "/") {
                found.extend(apis.iter().map(|api| (slot, api)));
            }
        }
        found.sort_by(|a, b| (a.1, &a.0 .1).cmp(&(b.1, &b.0 .1)));
        found.dedup();
        found
            .into_iter()
            .filter(|(_, api)| namespace.is_none_or(|ns| ns == api.namespace))
            .map(|((host, path), api)| ApiEntrypoint {
                kind: self.kind,
                api: api.clone(),
                entrypoint: Entrypoint {
                    host: host.clone(),
                    path: path.clone(),
                },
            })
            .collect()
    }

    /// Every entrypoint of the APIs in `namespace` (every namespace with `None`), not being deleted.
    pub fn entrypoints(&self, namespace: Option<&str>) -> Vec<ApiEntrypoint> {
        let inner = self.read();
        inner
            .entrypoints
            .iter()
            .flat_map(|((host, path), apis)| {
                apis.iter()
                    .filter(|api| namespace.is_none_or(|ns| ns == api.namespace))
                    .map(|api| ApiEntrypoint {
                        kind: self.kind,
                        api: api.clone(),
                        entrypoint: Entrypoint {
                            host: host.clone(),
                            path: path.clone(),
                        },
                    })
            })
            .collect()
    }
}

/// `/a/b/c` → `/`, `/a`, `/a/b`, `/a/b/c`.
fn segment_prefixes(path: &str) -> Vec<&str> {
    let mut out = vec!["/"];
    for (i, c) in path.char_indices().skip(1) {
        if c == '/' {
            out.push(&path[..i]);
        }
    }
    if path != "/" {
        out.push(path);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(ns: &str, name: &str) -> ObjectKey {
        ObjectKey::new(ns, name)
    }

    fn api(context: Option<&str>, resources: &[&str], paths: &[&str]) -> ApiLinks {
        ApiLinks {
            context: context.map(|c| key("apim", c)),
            resources: resources.iter().map(|r| key("apim", r)).collect(),
            entrypoints: paths.iter().map(|p| Entrypoint::new(None, p)).collect(),
            ..ApiLinks::default()
        }
    }

    fn clashes(index: &ApiIndex, ns: Option<&str>, path: &str) -> Vec<String> {
        index
            .clashing(ns, &Entrypoint::new(None, path))
            .iter()
            .map(|c| format!("{} {}", c.api, c.entrypoint))
            .collect()
    }

    #[test]
    fn reverse_maps_follow_changes() {
        let index = ApiIndex::default();
        index.apply(key("a", "x"), api(Some("dev"), &["cache"], &["/x"]));
        index.apply(key("b", "y"), api(Some("dev"), &[], &["/y"]));
        assert_eq!(
            index.context_users(&key("apim", "dev")),
            vec![key("a", "x"), key("b", "y")]
        );
        assert_eq!(
            index.resource_users(&key("apim", "cache")),
            vec![key("a", "x")]
        );
        // x moves to another context, keeps "dev" as its synced context.
        index.apply(
            key("a", "x"),
            api(Some("prod"), &[], &["/x"]).with_status(Some("apim/dev"), false),
        );
        assert_eq!(
            index.context_users(&key("apim", "dev")),
            vec![key("b", "y")]
        );
        assert_eq!(
            index.context_or_synced_users(&key("apim", "dev")),
            vec![key("a", "x"), key("b", "y")]
        );
        assert!(index.resource_users(&key("apim", "cache")).is_empty());
        index.delete(&key("b", "y"));
        assert!(index.context_users(&key("apim", "dev")).is_empty());
        assert_eq!(index.len(), 1);
    }

    #[test]
    fn clashes_are_whole_segment_prefixes_either_way() {
        let index = ApiIndex::default();
        index.apply(key("a", "root"), api(None, &[], &["/"]));
        index.apply(key("a", "orders"), api(None, &[], &["/orders"]));
        index.apply(key("a", "v1"), api(None, &[], &["/orders/v1"]));
        index.apply(key("a", "ordersx"), api(None, &[], &["/ordersx"]));
        index.apply(key("b", "other"), api(None, &[], &["/orders"]));
        assert_eq!(
            clashes(&index, Some("a"), "/orders"),
            vec!["a/orders /orders", "a/root /", "a/v1 /orders/v1"]
        );
        assert_eq!(
            clashes(&index, Some("a"), "/orders/v1/items"),
            vec!["a/orders /orders", "a/root /", "a/v1 /orders/v1"]
        );
        assert_eq!(
            clashes(&index, None, "/orders"),
            vec![
                "a/orders /orders",
                "a/root /",
                "a/v1 /orders/v1",
                "b/other /orders"
            ]
        );
        assert_eq!(
            clashes(&index, Some("a"), "/").len(),
            4,
            "/ clashes with all"
        );
        assert_eq!(clashes(&index, Some("c"), "/orders"), Vec::<String>::new());
        // Another host is another entrypoint.
        assert!(index
            .clashing(
                Some("a"),
                &Entrypoint::new(Some("h.example.com"), "/orders")
            )
            .is_empty());
    }

    #[test]
    fn clashes_agree_with_the_pairwise_rule() {
        let paths = ["/", "/a", "/a/b", "/ab", "/a/b/c", "/b", "/a/bc"];
        let index = ApiIndex::default();
        for (i, p) in paths.iter().enumerate() {
            index.apply(key("n", &format!("api{i}")), api(None, &[], &[p]));
        }
        for probe in ["/", "/a", "/a/b", "/a/b/c/d", "/abc", "/c", "/a/bc"] {
            let e = Entrypoint::new(None, probe);
            let mut expected: Vec<String> = paths
                .iter()
                .enumerate()
                .filter(|(_, p)| e.clashes_with(&Entrypoint::new(None, p)))
                .map(|(i, p)| format!("n/api{i} {p}"))
                .collect();
            expected.sort();
            let mut got = clashes(&index, Some("n"), probe);
            got.sort();
            assert_eq!(got, expected, "probe {probe}");
        }
    }

    #[test]
    fn apis_being_deleted_have_no_entrypoints_but_still_use_their_context() {
        let index = ApiIndex::default();
        index.apply(
            key("a", "x"),
            api(Some("dev"), &[], &["/x"]).with_status(None, true),
        );
        assert!(clashes(&index, Some("a"), "/x").is_empty());
        assert_eq!(
            index.context_users(&key("apim", "dev")),
            vec![key("a", "x")]
        );
    }

    #[test]
    fn a_relist_drops_only_what_its_namespace_no_longer_has() {
        let index = ApiIndex::default();
        index.apply(key("a", "keep"), api(Some("dev"), &[], &["/k"]));
        index.apply(key("a", "gone"), api(Some("dev"), &[], &["/g"]));
        index.apply(key("b", "other"), api(Some("dev"), &[], &["/o"]));
        index.begin_relist(Some("a"));
        index.apply(key("a", "keep"), api(Some("dev"), &[], &["/k"]));
        index.end_relist(Some("a"));
        assert_eq!(
            index.context_users(&key("apim", "dev")),
            vec![key("a", "keep"), key("b", "other")]
        );
        assert!(clashes(&index, Some("a"), "/g").is_empty());
        index.begin_relist(None);
        index.end_relist(None);
        assert!(index.is_empty());
    }

    #[test]
    fn entries_carry_the_kind_of_their_index() {
        let v4 = ApiIndex::new(Kind::ApiV4Definition);
        v4.apply(key("a", "x"), api(None, &[], &["/x"]));
        let found = v4.clashing(Some("a"), &Entrypoint::new(None, "/x/y"));
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].kind, Kind::ApiV4Definition);
        assert_eq!(v4.entrypoints(None)[0].kind, Kind::ApiV4Definition);
        assert_eq!(ApiIndex::default().kind(), Kind::ApiDefinition);
    }
}
