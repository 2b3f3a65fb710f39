//! The base/version merge (SPEC section 2).
//!
//! In every string scalar of the base documents `${name}` is replaced by the
//! variable's value. A scalar that is exactly `${name}` takes the variable's
//! type, so `replicas: ${replicas}` stays an integer. `$$` is a literal `$`.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_yaml::{Mapping, Value};

use crate::error::FileError;

/// The variables of one service version, as read from `version/<service>.yaml`.
pub type Vars = BTreeMap<String, Value>;

/// Parses a version file: a mapping of variable names to values.
pub fn parse_vars(path: &str, text: &str) -> Result<Vars, FileError> {
    let value: Value = serde_yaml::from_str(text).map_err(|e| FileError::yaml(path, &e))?;
    match value {
        Value::Null => Ok(Vars::new()),
        Value::Mapping(map) => {
            let mut vars = Vars::new();
            for (key, value) in map {
                let Value::String(name) = key else {
                    return Err(FileError::new(
                        path,
                        None,
                        format!("variable names must be strings, found {}", describe(&key)),
                    ));
                };
                vars.insert(name, value);
            }
            Ok(vars)
        }
        other => Err(FileError::new(
            path,
            Some(1),
            format!(
                "a version file must be a mapping of variables, found {}",
                describe(&other)
            ),
        )),
    }
}

/// Parses every YAML document of a file; empty documents are skipped.
pub fn parse_documents(path: &str, text: &str) -> Result<Vec<Value>, FileError> {
    let mut docs = Vec::new();
    for doc in serde_yaml::Deserializer::from_str(text) {
        let value = Value::deserialize(doc).map_err(|e| FileError::yaml(path, &e))?;
        if !value.is_null() {
            docs.push(value);
        }
    }
    Ok(docs)
}

/// Renders a base file with a version's variables into its documents.
pub fn render(base_path: &str, base_text: &str, vars_path: &str, vars: &Vars) -> Result<Vec<Value>, FileError> {
    render_explained(base_path, base_text, vars_path, vars).map_err(|e| e.error)
}

/// Why a base did not render, and the variable it uses without a definition when
/// that was the cause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderError {
    pub error: FileError,
    /// The undefined variable, when one was the cause.
    pub undefined: Option<String>,
}

/// [`render`], saying which variable was undefined when one was (the pre-flight
/// of a posted version tells a missing variable from a base that is broken anyway).
pub fn render_explained(
    base_path: &str,
    base_text: &str,
    vars_path: &str,
    vars: &Vars,
) -> Result<Vec<Value>, RenderError> {
    let docs = parse_documents(base_path, base_text).map_err(|error| RenderError { error, undefined: None })?;
    let ctx = Ctx {
        base_path,
        base_text,
        vars_path,
        vars,
        undefined: std::cell::RefCell::new(None),
    };
    let rendered: Result<Vec<Value>, FileError> = docs.into_iter().map(|doc| ctx.substitute(doc)).collect();
    rendered.map_err(|error| RenderError {
        error,
        undefined: ctx.undefined.take(),
    })
}

struct Ctx<'a> {
    base_path: &'a str,
    base_text: &'a str,
    vars_path: &'a str,
    vars: &'a Vars,
    /// The first variable looked up and not found (rendering stops at it).
    undefined: std::cell::RefCell<Option<String>>,
}

impl Ctx<'_> {
    fn substitute(&self, value: Value) -> Result<Value, FileError> {
        Ok(match value {
            Value::String(s) => self.substitute_string(&s)?,
            Value::Sequence(items) => Value::Sequence(
                items
                    .into_iter()
                    .map(|v| self.substitute(v))
                    .collect::<Result<_, _>>()?,
            ),
            Value::Mapping(map) => {
                let mut out = Mapping::with_capacity(map.len());
                for (k, v) in map {
                    let k = match k {
                        Value::String(s) => Value::String(self.expand(&s)?),
                        other => other,
                    };
                    out.insert(k, self.substitute(v)?);
                }
                Value::Mapping(out)
            }
            Value::Tagged(tagged) => {
                let mut tagged = *tagged;
                tagged.value = self.substitute(tagged.value)?;
                Value::Tagged(Box::new(tagged))
            }
            other => other,
        })
    }

    fn substitute_string(&self, s: &str) -> Result<Value, FileError> {
        if let Some(name) = s.strip_prefix("${").and_then(|r| r.strip_suffix('}')) {
            if is_var_name(name) {
                return self.lookup(name).cloned();
            }
        }
        Ok(Value::String(self.expand(s)?))
    }

    fn expand(&self, s: &str) -> Result<String, FileError> {
        let mut out = String::with_capacity(s.len());
        let mut rest = s;
        while let Some(i) = rest.find('$') {
            out.push_str(&rest[..i]);
            let after = &rest[i + 1..];
            if let Some(tail) = after.strip_prefix('$') {
                out.push('$');
                rest = tail;
            } else if let Some(body) = after.strip_prefix('{') {
                let end = body.find('}').ok_or_else(|| {
                    self.error(
                        find_line(self.base_text, &rest[i..]),
                        format!("unterminated variable reference in {s:?}"),
                    )
                })?;
                let name = &body[..end];
                if !is_var_name(name) {
                    return Err(self.error(
                        find_line(self.base_text, &format!("${{{name}}}")),
                        format!("invalid variable name {name:?} in {s:?}"),
                    ));
                }
                out.push_str(&scalar_text(name, self.lookup(name)?, self)?);
                rest = &body[end + 1..];
            } else {
                out.push('$');
                rest = after;
            }
        }
        out.push_str(rest);
        Ok(out)
    }

    fn lookup(&self, name: &str) -> Result<&Value, FileError> {
        self.vars.get(name).ok_or_else(|| {
            self.undefined.borrow_mut().get_or_insert_with(|| name.to_string());
            self.error(
                find_line(self.base_text, &format!("${{{name}}}")),
                format!("variable `{name}` is used but not defined in {}", self.vars_path),
            )
        })
    }

    fn error(&self, line: Option<usize>, message: String) -> FileError {
        FileError::new(self.base_path, line, message)
    }
}

fn scalar_text(name: &str, value: &Value, ctx: &Ctx<'_>) -> Result<String, FileError> {
    Ok(match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null => String::new(),
        other => {
            return Err(ctx.error(
                find_line(ctx.base_text, &format!("${{{name}}}")),
                format!(
                    "variable `{name}` is {} and can only replace a whole scalar, not part of a string",
                    describe(other)
                ),
            ))
        }
    })
}

fn is_var_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
}

/// The 1-based line of the first occurrence of `needle` that is not escaped by `$$`.
fn find_line(text: &str, needle: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(pos) = text[from..].find(needle) {
        let at = from + pos;
        let dollars = text[..at].bytes().rev().take_while(|b| *b == b'$').count();
        if dollars % 2 == 0 {
            return Some(text[..at].bytes().filter(|b| *b == b'\n').count() + 1);
        }
        from = at + needle.len();
    }
    None
}

pub(crate) fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(yaml: &str) -> Vars {
        parse_vars("dev/version/s1.yaml", yaml).unwrap()
    }

    fn render_one(base: &str, v: &str) -> Result<Vec<Value>, FileError> {
        render("dev/base/s1.yaml", base, "dev/version/s1.yaml", &vars(v))
    }

    #[test]
    fn whole_scalar_keeps_the_variable_type() {
        let docs = render_one(
            "spec:\n  replicas: ${replicas}\n  paused: ${paused}\n  image: ${image}\n",
            "{replicas: 3, paused: false, image: 'reg/s1:42'}",
        )
        .unwrap();
        assert_eq!(docs[0]["spec"]["replicas"], Value::from(3));
        assert_eq!(docs[0]["spec"]["paused"], Value::from(false));
        assert_eq!(docs[0]["spec"]["image"], Value::from("reg/s1:42"));
    }

    #[test]
    fn embedded_references_become_text() {
        let docs = render_one(
            "name: app-${version}\nlabel: \"v${version}-r${replicas}\"\n",
            "{version: '42', replicas: 3}",
        )
        .unwrap();
        assert_eq!(docs[0]["name"], Value::from("app-42"));
        assert_eq!(docs[0]["label"], Value::from("v42-r3"));
    }

    #[test]
    fn double_dollar_is_a_literal_dollar() {
        let docs = render_one("cmd: \"echo $${HOME} $$5 ${v}\"\nwhole: $${v}\n", "{v: x}").unwrap();
        assert_eq!(docs[0]["cmd"], Value::from("echo ${HOME} $5 x"));
        assert_eq!(docs[0]["whole"], Value::from("${v}"));
    }

    #[test]
    fn undefined_variable_names_file_variable_and_line() {
        let err = render_one("a: 1\nb:\n  c: ${missing}\n", "{v: 1}").unwrap_err();
        assert_eq!(err.path, "dev/base/s1.yaml");
        assert_eq!(err.line, Some(3));
        assert!(err.message.contains("`missing`"), "{}", err.message);
        assert!(err.message.contains("dev/version/s1.yaml"), "{}", err.message);
        assert!(err.to_string().starts_with("dev/base/s1.yaml:3: "));
    }

    #[test]
    fn an_undefined_variable_is_named_apart_from_other_failures() {
        let err = render_explained("b.yaml", "a: 1\nb: x-${missing}\n", "v.yaml", &vars("{v: 1}")).unwrap_err();
        assert_eq!(err.undefined.as_deref(), Some("missing"));
        assert_eq!(err.error.line, Some(2));
        let err = render_explained("b.yaml", "a: [\n", "v.yaml", &vars("{v: 1}")).unwrap_err();
        assert_eq!(err.undefined, None, "bad YAML is no missing variable");
        let err = render_explained("b.yaml", "x: \"a-${envs}\"\n", "v.yaml", &vars("{envs: [1]}")).unwrap_err();
        assert_eq!(err.undefined, None);
    }

    #[test]
    fn undefined_variable_line_skips_escaped_occurrences() {
        let err = render_one("a: $${x}\nb: ${x}\n", "{}").unwrap_err();
        assert_eq!(err.line, Some(2));
    }

    #[test]
    fn multi_document_base_renders_every_document() {
        let docs = render_one(
            "kind: Deployment\nname: ${n}\n---\nkind: Service\nname: ${n}\n---\n",
            "{n: web}",
        )
        .unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[1]["kind"], Value::from("Service"));
        assert_eq!(docs[1]["name"], Value::from("web"));
    }

    #[test]
    fn bad_yaml_reports_line() {
        let err = render_one("a: 1\nb: [unclosed\nc: 2\n", "{}").unwrap_err();
        assert_eq!(err.path, "dev/base/s1.yaml");
        assert!(err.line.is_some());
        assert!(err.message.starts_with("invalid YAML"));
    }

    #[test]
    fn version_file_must_be_a_mapping() {
        let err = parse_vars("dev/version/s1.yaml", "- a\n- b\n").unwrap_err();
        assert!(err.message.contains("mapping"));
        assert_eq!(parse_vars("x", "").unwrap(), Vars::new());
    }

    #[test]
    fn structured_variable_can_fill_a_whole_scalar_only() {
        let docs = render_one("env: ${envs}\n", "{envs: [{name: A, value: b}]}").unwrap();
        assert!(docs[0]["env"].is_sequence());
        let err = render_one("x: \"a-${envs}\"\n", "{envs: [1]}").unwrap_err();
        assert!(err.message.contains("whole scalar"));
    }
}
