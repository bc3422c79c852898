//! Reading the typed view out of the flat field map: one field by name,
//! a nested element, a list of repeated elements (XML) or array elements
//! (JSON), and the closed sets of values WeChat documents.
//!
//! Every reader answers `None` when the model cannot be filled, which the
//! typed view turns into `Other` for the whole push: a typed value is
//! either complete or absent, never half filled.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::str::FromStr;

/// The field map, or the part of it below one element, read by name.
#[derive(Clone)]
pub(super) struct Fields<'a> {
    map: &'a BTreeMap<String, String>,
    /// The path of the element read, with its trailing `/`; empty for the
    /// whole push.
    prefix: String,
}

impl<'a> Fields<'a> {
    pub(super) fn new(map: &'a BTreeMap<String, String>) -> Fields<'a> {
        Fields {
            map,
            prefix: String::new(),
        }
    }

    pub(super) fn get(&self, name: &str) -> Option<&'a str> {
        let value = if self.prefix.is_empty() {
            self.map.get(name)
        } else {
            self.map.get(&format!("{}{name}", self.prefix))
        };
        value.map(String::as_str)
    }

    pub(super) fn text(&self, name: &str) -> Option<String> {
        self.get(name).map(str::to_string)
    }

    /// A number, sent as a number (JSON) or as text (XML, and JSON strings).
    pub(super) fn number<T: FromStr>(&self, name: &str) -> Option<T> {
        self.get(name)?.trim().parse().ok()
    }

    /// `Some(None)` when absent, `None` when present but not a number.
    pub(super) fn optional_number<T: FromStr>(&self, name: &str) -> Option<Option<T>> {
        match self.get(name) {
            None => Some(None),
            Some(_) => self.number(name).map(Some),
        }
    }

    /// The element at `path` (`ScanCodeInfo`, `result`), read by its
    /// children's names.
    pub(super) fn at(&self, path: &str) -> Fields<'a> {
        Fields {
            map: self.map,
            prefix: format!("{}{path}/", self.prefix),
        }
    }

    /// The elements named by `path`, in order: `path`, `path[2]`,
    /// `path[3]`... as repeated XML elements and JSON array elements are
    /// flattened (a JSON object where an array was expected is one element).
    /// Only elements with children count; the list ends at the first index
    /// that has none, so it is never longer than the map.
    pub(super) fn list(&self, path: &str) -> Vec<Fields<'a>> {
        (1..)
            .map(|i| match i {
                1 => self.at(path),
                i => self.at(&format!("{path}[{i}]")),
            })
            .take_while(Fields::has_children)
            .collect()
    }

    /// The first of `paths` that holds any element, as a [`list`](Self::list):
    /// WeChat wraps some lists in XML (`SubscribeMsgPopupEvent/List`) and
    /// not in JSON (`List`).
    pub(super) fn first_list(&self, paths: &[&str]) -> Vec<Fields<'a>> {
        paths
            .iter()
            .map(|path| self.list(path))
            .find(|items| !items.is_empty())
            .unwrap_or_default()
    }

    fn has_children(&self) -> bool {
        self.map
            .range::<str, _>((Bound::Included(self.prefix.as_str()), Bound::Unbounded))
            .next()
            .is_some_and(|(path, _)| path.starts_with(&self.prefix))
    }
}

/// Defines a public enum for a closed set of string values WeChat
/// documents, with `Other(String)` keeping any other value as sent,
/// `as_str` giving the value back and `From<&str>` reading it.
macro_rules! closed_set {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $($(#[$variant_meta:meta])* $variant:ident = $text:literal,)+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum $name {
            $($(#[$variant_meta])* $variant,)+
            /// A value this crate does not know, kept as sent.
            Other(String),
        }

        impl $name {
            /// The value as WeChat sends it.
            ///
            /// # Example
            ///
            /// ```
            #[doc = concat!("use weixin::", stringify!($name), ";")]
            ///
            #[doc = concat!("assert_eq!(", stringify!($name), "::from(\"x-new\").as_str(), \"x-new\");")]
            /// ```
            pub fn as_str(&self) -> &str {
                match self {
                    $($name::$variant => $text,)+
                    $name::Other(text) => text,
                }
            }
        }

        impl From<&str> for $name {
            fn from(text: &str) -> $name {
                match text {
                    $($text => $name::$variant,)+
                    other => $name::Other(other.to_string()),
                }
            }
        }
    };
}

pub(super) use closed_set;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::test_support::fields;

    #[test]
    fn lists_read_repeated_elements_in_order_and_stop_at_the_first_gap() {
        let map = fields(&[
            ("List/A", "1"),
            ("List[2]/A", "2"),
            ("List[2]/B/C", "x"),
            ("List[4]/A", "4"),
            ("Lists/A", "no"),
            ("Other", "no"),
        ]);
        let f = Fields::new(&map);
        let items = f.list("List");
        let read: Vec<Option<&str>> = items.iter().map(|item| item.get("A")).collect();
        assert_eq!(read, [Some("1"), Some("2")]);
        assert_eq!(items[1].at("B").get("C"), Some("x"));
        assert!(f.list("Missing").is_empty());
        // A leaf is not an element with children.
        assert!(f.list("Other").is_empty());
        assert_eq!(f.first_list(&["Missing", "Lists"]).len(), 1);
        assert!(f.first_list(&["Missing"]).is_empty());
    }

    #[test]
    fn numbers_are_read_from_text_with_or_without_spaces() {
        let map = fields(&[("N", " 42 "), ("X", "4 2"), ("F", "0.5")]);
        let f = Fields::new(&map);
        assert_eq!(f.number::<u32>("N"), Some(42));
        assert_eq!(f.number::<u32>("X"), None);
        assert_eq!(f.optional_number::<u32>("Absent"), Some(None));
        assert_eq!(f.optional_number::<u32>("X"), None);
        assert_eq!(f.number::<f64>("F"), Some(0.5));
    }
}
