//! `GATEWAY__SECTION__KEY` environment variables over the file, and where a TOML error is.

use super::ConfigError;

pub(super) fn locate(text: &str, span: Option<std::ops::Range<usize>>) -> String {
    let Some(span) = span else {
        return String::new();
    };
    let line = text
        .get(..span.start)
        .map(|t| t.lines().count())
        .unwrap_or(0);
    let snippet = text
        .lines()
        .nth(line.saturating_sub(1))
        .unwrap_or("")
        .trim();
    format!(" (at `{snippet}`)")
}

/// Applies `GATEWAY__SECTION__KEY=value` overrides. Path segments are lower-cased; a numeric
/// segment indexes an array of tables (`GATEWAY__UPSTREAMS__0__CLIENT_SECRET`). A value that
/// parses as a TOML value (number, boolean, array) is taken as such, anything else as a string.
pub(super) fn apply_env(
    table: &mut toml::Table,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<(), ConfigError> {
    let mut vars: Vec<(String, String)> = env
        .into_iter()
        .filter(|(k, _)| k.starts_with("GATEWAY__"))
        .collect();
    vars.sort();
    for (name, value) in vars {
        let path: Vec<String> = name["GATEWAY__".len()..]
            .split("__")
            .map(str::to_ascii_lowercase)
            .collect();
        if path.iter().any(String::is_empty) {
            return Err(ConfigError::new(name, "empty path segment"));
        }
        let parsed = format!("v = {value}")
            .parse::<toml::Table>()
            .ok()
            .and_then(|mut t| t.remove("v"))
            .filter(|v| !matches!(v, toml::Value::Table(_)))
            .unwrap_or(toml::Value::String(value));
        set_path(table, &path, parsed).map_err(|m| ConfigError::new(name.clone(), m))?;
    }
    Ok(())
}

fn set_path(table: &mut toml::Table, path: &[String], value: toml::Value) -> Result<(), String> {
    let (first, rest) = path.split_first().ok_or("empty path")?;
    if rest.is_empty() {
        table.insert(first.clone(), value);
        return Ok(());
    }
    let entry = table
        .entry(first.clone())
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    match entry {
        toml::Value::Table(t) => set_path(t, rest, value),
        toml::Value::Array(items) => {
            let (idx, rest2) = rest.split_first().ok_or("missing array index")?;
            let i: usize = idx
                .parse()
                .map_err(|_| format!("{first} is a list: the next segment must be an index"))?;
            while items.len() <= i {
                items.push(toml::Value::Table(toml::Table::new()));
            }
            match &mut items[i] {
                toml::Value::Table(t) if !rest2.is_empty() => set_path(t, rest2, value),
                _ => Err(format!("cannot set {first}[{i}]")),
            }
        }
        _ => Err(format!("{first} is not a section")),
    }
}
