//! Generates the P/Invoke part of `bindings/csharp/Syncshell.cs` from the C header, so the
//! two cannot drift apart. The hand-written wrappers around it stay as they are.

use std::collections::BTreeMap;
use std::fmt::Write;

pub(crate) const BEGIN: &str =
    "    // BEGIN GENERATED: P/Invoke declarations from include/syncshell.h. Do not edit.";
pub(crate) const END: &str = "    // END GENERATED";

/// One function prototype of the header.
#[derive(Debug)]
pub(crate) struct Function {
    pub(crate) name: String,
    pub(crate) ret: String,
    pub(crate) params: Vec<(String, String)>,
}

fn typedefs(header: &str) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    // Handle structs (`typedef struct { uint64_t h; } syncshell_identity;`) are passed and
    // laid out exactly as their one uint64_t on every 64-bit ABI, so C# takes them as ulong.
    let mut fields: Option<Vec<String>> = None;
    for line in header.lines() {
        let t = line.trim();
        if t == "typedef struct {" {
            fields = Some(Vec::new());
            continue;
        }
        if let Some(f) = fields.as_mut() {
            if let Some(name) = t.strip_prefix("} ").and_then(|n| n.strip_suffix(';')) {
                if f.len() == 1 && f[0] == "uint64_t h;" {
                    map.insert(name.to_owned(), "uint64_t".to_owned());
                }
                fields = None;
            } else if !t.starts_with("//") && !t.is_empty() {
                f.push(t.to_owned());
            }
            continue;
        }
        if let Some(rest) = line.strip_prefix("typedef ") {
            let rest = rest.trim_end_matches(';');
            if let Some((base, name)) = rest.rsplit_once(' ') {
                if !base.starts_with("enum") && !base.starts_with("struct") {
                    map.insert(name.to_owned(), base.to_owned());
                }
            }
        }
    }
    map
}

/// The function prototypes, in header order.
pub(crate) fn functions(header: &str) -> Vec<Function> {
    let mut out = Vec::new();
    let mut pending = String::new();
    for line in header.lines() {
        let line = line.trim();
        let comment = ["//", "/*", "*", "#"].iter().any(|p| line.starts_with(p));
        if pending.is_empty() && (comment || !line.contains('(')) {
            continue;
        }
        pending.push_str(line);
        pending.push(' ');
        if !line.ends_with(';') {
            continue;
        }
        let proto = std::mem::take(&mut pending);
        let Some((head, params)) = proto.split_once('(') else {
            continue;
        };
        let head = head.trim();
        let Some((ret, name)) = head.rsplit_once([' ', '*']) else {
            continue;
        };
        let ret = format!(
            "{}{}",
            ret.trim(),
            if head.ends_with(&format!("*{name}")) {
                " *"
            } else {
                ""
            }
        );
        let params = params
            .trim()
            .trim_end_matches(';')
            .trim()
            .trim_end_matches(')');
        let params = if params == "void" || params.is_empty() {
            Vec::new()
        } else {
            params
                .split(',')
                .map(|p| {
                    let p = p.trim();
                    let split = p.rfind([' ', '*']).unwrap();
                    let (ty, name) = p.split_at(split + 1);
                    (ty.trim().to_owned(), name.trim().to_owned())
                })
                .collect()
        };
        out.push(Function {
            name: name.trim().to_owned(),
            ret: ret.trim().to_owned(),
            params,
        });
    }
    out
}

fn cs_type(c: &str, typedefs: &BTreeMap<String, String>) -> String {
    let c = c.trim().trim_start_matches("const ").trim();
    if let Some(inner) = c.strip_suffix('*') {
        let inner = inner.trim().trim_start_matches("const ").trim();
        return match inner {
            "char" | "uint8_t" => "byte*".to_owned(),
            other => format!("{}*", cs_type(other, typedefs)),
        };
    }
    match c {
        "void" => "void".to_owned(),
        "bool" => "bool".to_owned(),
        "uint8_t" => "byte".to_owned(),
        "uint32_t" => "uint".to_owned(),
        "uint64_t" => "ulong".to_owned(),
        "size_t" => "UIntPtr".to_owned(),
        "syncshell_status" => "Status".to_owned(),
        other => match typedefs.get(other) {
            Some(base) => cs_type(base, typedefs),
            None => panic!("no C# type for C type {other:?}"),
        },
    }
}

fn cs_name(name: &str) -> String {
    const KEYWORDS: &[&str] = &[
        "base", "checked", "event", "fixed", "lock", "object", "out", "params", "ref", "string",
    ];
    if KEYWORDS.contains(&name) {
        format!("@{name}")
    } else {
        name.to_owned()
    }
}

fn pascal(name: &str) -> String {
    name.split('_')
        .map(|w| {
            let lower = w.to_ascii_lowercase();
            let mut chars = lower.chars();
            chars
                .next()
                .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// The generated C# block: the status enum, the constants and the P/Invoke declarations.
pub(crate) fn native_methods(header: &str) -> String {
    let typedefs = typedefs(header);
    let mut s = String::new();
    writeln!(s, "{BEGIN}").unwrap();
    // The status enum.
    writeln!(
        s,
        "    /// <summary>What a call did (syncshell_status).</summary>"
    )
    .unwrap();
    writeln!(s, "    public enum Status : uint").unwrap();
    writeln!(s, "    {{").unwrap();
    let mut in_enum = false;
    for line in header.lines() {
        let t = line.trim();
        if t.starts_with("enum syncshell_status") {
            in_enum = true;
            continue;
        }
        if in_enum {
            if t.starts_with('}') {
                break;
            }
            if let Some((name, value)) = t.trim_end_matches(',').split_once(" = ") {
                let short = name.trim_start_matches("SYNCSHELL_");
                writeln!(s, "        {} = {},", pascal(short), value).unwrap();
            }
        }
    }
    writeln!(s, "    }}").unwrap();
    writeln!(s).unwrap();
    writeln!(
        s,
        "    /// <summary>The C functions, as declared in include/syncshell.h (internal: hosts use the wrappers).</summary>"
    )
    .unwrap();
    writeln!(s, "    internal static unsafe partial class Native").unwrap();
    writeln!(s, "    {{").unwrap();
    writeln!(s, "        /// <summary>The library, named as Windows names the module: syncshell_ffi.dll (mono maps it to libsyncshell_ffi.so on Linux).</summary>").unwrap();
    writeln!(
        s,
        "        public const string Library = \"syncshell_ffi.dll\";"
    )
    .unwrap();
    for line in header.lines() {
        if let Some(rest) = line.strip_prefix("#define SYNCSHELL_") {
            let Some((name, value)) = rest.split_once(' ') else {
                continue; // the include guard
            };
            writeln!(
                s,
                "        public const uint SYNCSHELL_{name} = {};",
                value.trim()
            )
            .unwrap();
        }
    }
    for f in functions(header) {
        let params: Vec<String> = f
            .params
            .iter()
            .map(|(ty, name)| {
                let cs = cs_type(ty, &typedefs);
                let marshal = if cs == "bool" {
                    "[MarshalAs(UnmanagedType.U1)] "
                } else {
                    ""
                };
                format!("{marshal}{cs} {}", cs_name(name))
            })
            .collect();
        writeln!(s).unwrap();
        writeln!(s, "        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]").unwrap();
        writeln!(
            s,
            "        public static extern {} {}({});",
            cs_type(&f.ret, &typedefs),
            f.name,
            params.join(", ")
        )
        .unwrap();
    }
    writeln!(s, "    }}").unwrap();
    write!(s, "{END}").unwrap();
    s
}

/// `committed` with its generated block replaced by `block` (or a new file around it).
pub(crate) fn splice(committed: &str, block: &str) -> String {
    match (committed.find(BEGIN), committed.find(END)) {
        (Some(start), Some(end)) if start < end => {
            format!("{}{}{}", &committed[..start], block, &committed[end + END.len()..])
        }
        _ => format!(
            "// Syncshell.cs: C# bindings of the syncshell C ABI.\nusing System;\nusing System.Runtime.InteropServices;\n\nnamespace Syncshell\n{{\n{block}\n}}\n"
        ),
    }
}
