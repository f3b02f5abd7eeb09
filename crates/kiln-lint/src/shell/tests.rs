use super::*;

fn progs(s: &str) -> Vec<String> {
    parse(s)
        .commands
        .iter()
        .map(|c| {
            c.words
                .iter()
                .map(|w| w.text.as_str())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

#[test]
fn splits_chains_and_removes_quotes() {
    assert_eq!(
        progs("apt-get update && apt-get install -y 'a b' \"c\"d; echo x | sh"),
        vec![
            "apt-get update",
            "apt-get install -y a b cd",
            "echo x",
            "sh"
        ]
    );
}

#[test]
fn redirects_and_assignments_are_not_arguments() {
    let s = parse("DEBIAN_FRONTEND=noninteractive apt-get install x >/dev/null 2>&1 < in");
    let c = &s.commands[0];
    assert_eq!(c.assigns[0].text, "DEBIAN_FRONTEND=noninteractive");
    assert_eq!(
        c.words.iter().map(|w| w.text.as_str()).collect::<Vec<_>>(),
        vec!["apt-get", "install", "x"]
    );
    assert_eq!(c.redirects.len(), 3);
}

#[test]
fn nested_scripts_and_compound_words() {
    let p = progs(
        "if true; then sh -c \"$(curl -fsSL https://x)\"; fi; for i in 1 2; do echo $i; done",
    );
    assert!(p.contains(&"curl -fsSL https://x".to_string()), "{p:?}");
    assert!(p.contains(&"true".to_string()));
    assert!(p.contains(&"echo $i".to_string()));
    assert!(!p
        .iter()
        .any(|c| c.starts_with("fi") || c.starts_with("for")));
    let p = progs("bash -c 'apt-get update && apt-get install -y x'");
    assert!(p.contains(&"apt-get install -y x".to_string()), "{p:?}");
}

#[test]
fn pipes_are_marked() {
    let s = parse("curl -sL x | sudo bash -");
    assert_eq!(s.commands[0].sep, Sep::Pipe);
    assert!(s.commands[1].piped_in);
    assert_eq!(s.commands[1].program(), Some("bash"));
    assert_eq!(s.commands[0].pipeline, s.commands[1].pipeline);
    assert!(s.has_pipe());
    assert!(!parse("a || b").has_pipe());
}

#[test]
fn offsets_point_at_words() {
    let text = "echo  'hi there' x";
    let s = parse(text);
    let w = &s.commands[0].words[1];
    assert_eq!(&text[w.start..w.end], "'hi there'");
}

#[test]
fn hostile_input_does_not_panic() {
    let inputs = [
        "",
        "\\",
        "'",
        "\"",
        "$(",
        "$((",
        "`",
        "${",
        "<(",
        "2>",
        "&>",
        "|",
        "|&",
        ";;",
        "((((",
        "))))",
        "\"$(\"",
        "a\\\nb",
        "é$(ü`ö",
        "$($($($($($($($($($(x))))))))))",
        "sh -c",
        "sh -c '",
        "<<",
        "x<<-",
        "\"\\",
        "'\\'",
        "${a${b${c",
        "`\\",
        "a &",
        "a & & b",
    ];
    for s in inputs {
        let _ = parse(s);
    }
    let deep = "$(".repeat(5000);
    let _ = parse(&deep);
    let many = "sh -c \"".repeat(200);
    let _ = parse(&many);
    // Every byte position of a mixed string.
    let mixed = "a'b\"c$(d`e\\f|g&h;i<j>k(l)m#n\n${o}é";
    for (i, _) in mixed.char_indices() {
        let _ = parse(&mixed[i..]);
        let _ = parse(&mixed[..i]);
    }
}
