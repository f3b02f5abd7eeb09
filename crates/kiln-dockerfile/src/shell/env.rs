//! [`LookupEnv`] for the usual environment containers.

use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasher;

use super::LookupEnv;

/// Pairs in definition order: the last definition of a name wins.
impl<K: AsRef<str>, V: AsRef<str>> LookupEnv for [(K, V)] {
    fn lookup(&self, name: &str) -> Option<String> {
        self.iter()
            .rev()
            .find(|(k, _)| k.as_ref() == name)
            .map(|(_, v)| v.as_ref().to_owned())
    }
}

impl<K: AsRef<str>, V: AsRef<str>> LookupEnv for Vec<(K, V)> {
    fn lookup(&self, name: &str) -> Option<String> {
        self.as_slice().lookup(name)
    }
}

impl<K: AsRef<str>, V: AsRef<str>, const N: usize> LookupEnv for [(K, V); N] {
    fn lookup(&self, name: &str) -> Option<String> {
        self.as_slice().lookup(name)
    }
}

impl LookupEnv for BTreeMap<String, String> {
    fn lookup(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

impl<S: BuildHasher> LookupEnv for HashMap<String, String, S> {
    fn lookup(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

impl<T: LookupEnv + ?Sized> LookupEnv for &T {
    fn lookup(&self, name: &str) -> Option<String> {
        (**self).lookup(name)
    }
}
