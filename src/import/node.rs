//! A YAML or JSON document as an ordered tree, so an import keeps the source's order and
//! can name every key it did not carry over.

use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

/// One value of a YAML or JSON document; maps keep their keys in the file's order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Node {
    /// `null`, `~` or an empty value.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float (or an integer too large for `i64`).
    Float(f64),
    /// A string.
    Str(String),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in the file's order (keys made strings).
    Map(Vec<(String, Node)>),
}

impl Node {
    /// A scalar as text (numbers and booleans as written); `None` for null, lists, maps.
    pub(crate) fn scalar(&self) -> Option<String> {
        match self {
            Node::Bool(b) => Some(b.to_string()),
            Node::Int(i) => Some(i.to_string()),
            Node::Float(f) => Some(f.to_string()),
            Node::Str(s) => Some(s.clone()),
            Node::Null | Node::Seq(_) | Node::Map(_) => None,
        }
    }

    /// The value of `key` when this is a map that has it.
    pub(crate) fn get(&self, key: &str) -> Option<&Node> {
        match self {
            Node::Map(m) => m.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The entries of a map (empty for anything else).
    pub(crate) fn entries(&self) -> &[(String, Node)] {
        match self {
            Node::Map(m) => m,
            _ => &[],
        }
    }

    /// A string, a number or a list of them, as a list of strings (`None` otherwise).
    pub(crate) fn strings(&self) -> Option<Vec<String>> {
        match self {
            Node::Seq(items) => items.iter().map(Node::scalar).collect(),
            other => other.scalar().map(|s| vec![s]),
        }
    }

    /// What kind of value this is, for messages.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Node::Null => "null",
            Node::Bool(_) => "a boolean",
            Node::Int(_) | Node::Float(_) => "a number",
            Node::Str(_) => "a string",
            Node::Seq(_) => "a list",
            Node::Map(_) => "a map",
        }
    }
}

/// `text` read as YAML 1.2 (so `yes`, `on` and `y` stay strings, as compose reads them).
pub(crate) fn from_yaml(text: &str) -> Result<Node, serde_saphyr::Error> {
    serde_saphyr::from_str_with_options(text, serde_saphyr::options! { strict_booleans: true })
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a YAML or JSON value")
    }
    fn visit_unit<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_none<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        Node::deserialize(d)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Node, E> {
        #[allow(clippy::cast_precision_loss)]
        Ok(i64::try_from(v).map_or(Node::Float(v as f64), Node::Int))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Node, E> {
        Ok(Node::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Node, E> {
        Ok(Node::Str(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Node, E> {
        Ok(Node::Str(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Node>()? {
            items.push(item);
        }
        Ok(Node::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries: Vec<(String, Node)> = Vec::new();
        while let Some((k, v)) = map.next_entry::<Node, Node>()? {
            let key = k.scalar().unwrap_or_default();
            // A repeated key: the later one wins, in the first one's place.
            match entries.iter_mut().find(|(existing, _)| *existing == key) {
                Some(slot) => slot.1 = v,
                None => entries.push((key, v)),
            }
        }
        Ok(Node::Map(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::Node;

    #[test]
    fn yaml_keeps_order_and_expands_merge_keys() {
        let doc =
            super::from_yaml("base: &b {x: 1, y: two}\nz: {<<: *b, y: 3}\na: [1, ~, true, yes]\n")
                .expect("yaml");
        let keys: Vec<&str> = doc.entries().iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["base", "z", "a"]);
        let z = doc.get("z").expect("z");
        assert_eq!(z.get("x"), Some(&Node::Int(1)));
        assert_eq!(z.get("y"), Some(&Node::Int(3)));
        assert_eq!(
            doc.get("a"),
            Some(&Node::Seq(vec![
                Node::Int(1),
                Node::Null,
                Node::Bool(true),
                Node::Str("yes".into())
            ]))
        );
    }

    #[test]
    fn json_is_read_in_order() {
        let doc: Node = serde_json::from_str(r#"{"b": 1, "a": {"k": "v"}}"#).expect("json");
        let keys: Vec<&str> = doc.entries().iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["b", "a"]);
    }
}
