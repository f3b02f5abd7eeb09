//! An ordered variable list with constant-time lookup and update.
//!
//! Docker's env lists keep one entry per name and move a name to the end when it is set
//! again. Doing that on a `Vec` (retain, then push) and copying the list for every
//! instruction made the stage walk quadratic in the number of ENV and ARG instructions.
//! [`Vars`] keeps the same order with an index from name to slot: setting a name leaves a
//! hole in its old slot and appends; holes are squeezed out once they outnumber the live
//! entries, so every operation is amortised O(1) and iteration is O(live entries).

use crate::shell::LookupEnv;
use serde::{Serialize, Serializer};
use std::collections::HashMap;

/// Names with values of type `V`, in the order they were last set.
#[derive(Debug, PartialEq, Eq)]
pub struct Vars<V = String> {
    slots: Vec<Option<(String, V)>>,
    index: HashMap<String, usize>,
}

#[cfg(test)]
thread_local! {
    /// Entries copied by [`Vars::clone`] and [`Vars::to_list`] on this thread: the
    /// complexity regression tests (plan/linear_tests.rs) count them.
    pub(crate) static ENTRIES_COPIED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

fn count_copies(_n: usize) {
    #[cfg(test)]
    ENTRIES_COPIED.with(|c| c.set(c.get() + _n));
}

impl<V: Clone> Clone for Vars<V> {
    fn clone(&self) -> Self {
        count_copies(self.len());
        Vars {
            slots: self.slots.clone(),
            index: self.index.clone(),
        }
    }
}

impl<V> Default for Vars<V> {
    fn default() -> Self {
        Vars {
            slots: Vec::new(),
            index: HashMap::new(),
        }
    }
}

impl<V> Vars<V> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Set `key` to `value`; `key` becomes the last entry.
    pub fn set(&mut self, key: &str, value: V) {
        if let Some(old) = self.index.get(key).copied() {
            self.slots[old] = None;
        }
        self.index.insert(key.to_string(), self.slots.len());
        self.slots.push(Some((key.to_string(), value)));
        if self.slots.len() > 2 * self.index.len() + 16 {
            self.compact();
        }
    }

    pub fn get(&self, key: &str) -> Option<&V> {
        let slot = *self.index.get(key)?;
        self.slots[slot].as_ref().map(|(_, v)| v)
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// The entries in order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&str, &V)> + '_ {
        self.slots.iter().flatten().map(|(k, v)| (k.as_str(), v))
    }

    /// Slots in use, holes included (for the complexity regression tests).
    #[cfg(test)]
    pub(crate) fn slot_count(&self) -> usize {
        self.slots.len()
    }

    fn compact(&mut self) {
        self.slots.retain(Option::is_some);
        for (i, (k, _)) in self.slots.iter().flatten().enumerate() {
            if let Some(slot) = self.index.get_mut(k.as_str()) {
                *slot = i;
            }
        }
    }
}

impl<V: Clone> Vars<V> {
    /// The entries as a list (what the image config and RUN steps take).
    pub fn to_list(&self) -> Vec<(String, V)> {
        count_copies(self.len());
        self.iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }
}

impl<V> FromIterator<(String, V)> for Vars<V> {
    /// Later entries win, as in an env list.
    fn from_iter<I: IntoIterator<Item = (String, V)>>(iter: I) -> Self {
        let mut vars = Vars::new();
        for (k, v) in iter {
            vars.set(&k, v);
        }
        vars
    }
}

impl LookupEnv for Vars<String> {
    fn lookup(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

/// Serialised as the list of `[name, value]` pairs, like the `Vec` it replaces.
impl<V: Serialize> Serialize for Vars<V> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_again_moves_to_the_end_like_an_env_list() {
        let mut v: Vars = [("A", "1"), ("B", "2"), ("C", "3")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        v.set("A", "4".into());
        let list: Vec<(&str, &str)> = v.iter().map(|(k, v)| (k, v.as_str())).collect();
        assert_eq!(list, [("B", "2"), ("C", "3"), ("A", "4")]);
        assert_eq!(v.lookup("A").as_deref(), Some("4"));
        assert_eq!(v.lookup("Z"), None);
        assert_eq!(v.len(), 3);
    }

    #[test]
    fn holes_are_squeezed_out() {
        let mut v: Vars<u32> = Vars::new();
        for i in 0..10_000 {
            v.set("PATH", i);
            v.set(&format!("K{}", i % 7), i);
        }
        assert_eq!(v.len(), 8);
        assert!(v.slot_count() <= 2 * v.len() + 16);
        assert_eq!(v.get("PATH"), Some(&9_999));
        assert_eq!(v.iter().last().map(|(k, _)| k), Some("K3"));
    }

    #[test]
    fn serialises_as_pairs() {
        let mut v: Vars = Vars::new();
        v.set("A", "1".into());
        v.set("B", "2".into());
        assert_eq!(
            serde_json::to_string(&v).expect("json"),
            r#"[["A","1"],["B","2"]]"#
        );
    }
}
