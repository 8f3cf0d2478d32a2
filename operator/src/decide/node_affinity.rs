//! Whether a node satisfies a pod's required node affinity
//! (`requiredDuringSchedulingIgnoredDuringExecution`), with the scheduler's semantics: the
//! terms are ORed, the requirements of a term ANDed, and an empty term matches no node.

use k8s_openapi::api::core::v1::{Affinity, Node, NodeSelectorRequirement, NodeSelectorTerm};

/// The required node selector of an affinity, if it has one.
pub fn required(affinity: Option<&Affinity>) -> Option<&[NodeSelectorTerm]> {
    let required = affinity?
        .node_affinity
        .as_ref()?
        .required_during_scheduling_ignored_during_execution
        .as_ref()?;
    Some(&required.node_selector_terms)
}

/// Whether the node matches one of the terms.
pub fn matches(terms: &[NodeSelectorTerm], node: &Node) -> bool {
    terms.iter().any(|t| term_matches(t, node))
}

fn term_matches(term: &NodeSelectorTerm, node: &Node) -> bool {
    let labels = node.metadata.labels.as_ref();
    let expressions = term.match_expressions.as_deref().unwrap_or(&[]);
    let fields = term.match_fields.as_deref().unwrap_or(&[]);
    if expressions.is_empty() && fields.is_empty() {
        return false;
    }
    expressions
        .iter()
        .all(|r| requirement_matches(r, labels.and_then(|l| l.get(&r.key)).map(String::as_str)))
        // The only field a node selector may name is metadata.name.
        && fields.iter().all(|r| {
            r.key == "metadata.name" && requirement_matches(r, node.metadata.name.as_deref())
        })
}

fn requirement_matches(r: &NodeSelectorRequirement, value: Option<&str>) -> bool {
    let values = r.values.as_deref().unwrap_or(&[]);
    // Gt and Lt take one integer; a label that is not one does not match.
    let compare = |want: fn(i64, i64) -> bool| {
        let bound = values.first().and_then(|v| v.parse::<i64>().ok());
        let have = value.and_then(|v| v.parse::<i64>().ok());
        matches!((have, bound), (Some(h), Some(b)) if values.len() == 1 && want(h, b))
    };
    match r.operator.as_str() {
        "In" => value.is_some_and(|v| values.iter().any(|x| x == v)),
        "NotIn" => value.is_none_or(|v| values.iter().all(|x| x != v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        "Gt" => compare(|h, b| h > b),
        "Lt" => compare(|h, b| h < b),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::fixtures::node;

    fn req(key: &str, op: &str, values: &[&str]) -> NodeSelectorRequirement {
        NodeSelectorRequirement {
            key: key.into(),
            operator: op.into(),
            values: (!values.is_empty()).then(|| values.iter().map(|v| v.to_string()).collect()),
        }
    }

    fn term(expressions: Vec<NodeSelectorRequirement>, fields: Vec<NodeSelectorRequirement>) -> NodeSelectorTerm {
        NodeSelectorTerm {
            match_expressions: (!expressions.is_empty()).then_some(expressions),
            match_fields: (!fields.is_empty()).then_some(fields),
        }
    }

    #[test]
    fn operators_follow_the_scheduler() {
        let n = node("n1", &[("zone", "a"), ("cores", "8")], true, false, vec![]);
        let cases = [
            (req("zone", "In", &["a", "b"]), true),
            (req("zone", "In", &["b"]), false),
            (req("missing", "In", &["a"]), false),
            (req("zone", "NotIn", &["b"]), true),
            (req("zone", "NotIn", &["a"]), false),
            (req("missing", "NotIn", &["a"]), true),
            (req("zone", "Exists", &[]), true),
            (req("missing", "Exists", &[]), false),
            (req("missing", "DoesNotExist", &[]), true),
            (req("zone", "DoesNotExist", &[]), false),
            (req("cores", "Gt", &["4"]), true),
            (req("cores", "Gt", &["8"]), false),
            (req("cores", "Lt", &["16"]), true),
            (req("zone", "Gt", &["1"]), false),
            (req("cores", "Gt", &["x"]), false),
            (req("zone", "Like", &["a"]), false),
        ];
        for (r, want) in cases {
            assert_eq!(matches(&[term(vec![r.clone()], vec![])], &n), want, "{r:?}");
        }
    }

    #[test]
    fn terms_are_ored_requirements_anded_empty_terms_match_nothing() {
        let n = node("n1", &[("zone", "a"), ("disk", "ssd")], true, false, vec![]);
        let both = term(vec![req("zone", "In", &["a"]), req("disk", "In", &["hdd"])], vec![]);
        assert!(
            !matches(std::slice::from_ref(&both), &n),
            "requirements of a term are ANDed"
        );
        let either = [both, term(vec![req("disk", "In", &["ssd"])], vec![])];
        assert!(matches(&either, &n), "terms are ORed");
        assert!(!matches(&[term(vec![], vec![])], &n), "an empty term matches nothing");
        assert!(!matches(&[], &n), "no terms match nothing");
        let by_name = |names: &[&str]| [term(vec![], vec![req("metadata.name", "In", names)])];
        assert!(matches(&by_name(&["n1"]), &n));
        assert!(!matches(&by_name(&["n2"]), &n));
        let other_field = [term(vec![], vec![req("metadata.uid", "In", &["n1"])])];
        assert!(!matches(&other_field, &n), "only metadata.name is a node field");
    }
}
