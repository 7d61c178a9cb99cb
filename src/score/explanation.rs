//! An explanation tree for a score, in the style of tantivy's and Lucene's `Explanation`: each
//! node has a value, a description (the formula or the fact) and children.

use serde::{Deserialize, Serialize};

/// One node of a score explanation.
#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Explanation {
    /// The node's value.
    pub value: f32,
    /// What the value is: a formula, a constant's name or a fact.
    pub description: String,
    /// Sub-explanations.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(no_recursion)]
    pub details: Vec<Explanation>,
}

impl Explanation {
    /// A leaf.
    pub fn new(value: f32, description: impl Into<String>) -> Self {
        Explanation {
            value,
            description: description.into(),
            details: Vec::new(),
        }
    }

    /// Adds a child.
    pub fn push(&mut self, child: Explanation) {
        self.details.push(child);
    }

    /// Adds a named constant as a child.
    pub fn add_const(&mut self, name: impl Into<String>, value: f32) {
        self.details.push(Explanation::new(value, name));
    }

    /// Indented text, one node a line.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        self.write(&mut out, 0);
        out
    }

    fn write(&self, out: &mut String, depth: usize) {
        out.push_str(&format!(
            "{}{:.4}  {}\n",
            "  ".repeat(depth),
            self.value,
            self.description
        ));
        for d in &self.details {
            d.write(out, depth + 1);
        }
    }
}
