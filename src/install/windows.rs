//! The Windows rendering: a PowerShell script that registers a service with `New-Service`
//! and restart-on-failure with `sc.exe failure`. proctor only prints it; it never runs it.

use std::fmt::Write as _;

use super::Boot;

/// Renders the script. `boot` has been checked.
pub(super) fn render(boot: &Boot) -> String {
    let mut s = String::new();
    let binary: Vec<String> = boot.argv().iter().map(|a| cmdline_word(a)).collect();
    // `writeln!` into a String cannot fail; the results are ignored for that reason.
    let _ = writeln!(
        s,
        "# Written by `proctor install --target windows`: runs `proctor up` for project {} at boot.",
        boot.project
    );
    s.push_str("# Run it in an elevated PowerShell. To remove the service:\n");
    let _ = writeln!(
        s,
        "#   Stop-Service -Name {0}; sc.exe delete {0}",
        ps(&boot.name)
    );
    s.push_str("$ErrorActionPreference = 'Stop'\n");
    let _ = writeln!(s, "$Name = {}", ps(&boot.name));
    let _ = writeln!(s, "$BinaryPath = {}", ps(&binary.join(" ")));
    s.push('\n');
    s.push_str("if (Get-Service -Name $Name -ErrorAction SilentlyContinue) {\n");
    s.push_str(
        "    throw \"service $Name already exists; remove it first: Stop-Service $Name; sc.exe delete $Name\"\n",
    );
    s.push_str("}\n");
    s.push_str("$Params = @{\n");
    s.push_str("    Name           = $Name\n");
    s.push_str("    BinaryPathName = $BinaryPath\n");
    let _ = writeln!(s, "    DisplayName    = {}", ps(&boot.description()));
    let _ = writeln!(
        s,
        "    Description    = {}",
        ps(&format!("Runs proctor up for {}", boot.spec_path.display()))
    );
    s.push_str("    StartupType    = 'Automatic'\n");
    s.push_str("}\n");
    if let Some(user) = &boot.user_name {
        let _ = writeln!(
            s,
            "$Params.Credential = Get-Credential -UserName {} -Message 'Password of the account the service runs as'",
            ps(user)
        );
    }
    s.push_str("New-Service @Params | Out-Null\n");
    if !boot.env.is_empty() {
        // A service's environment is the REG_MULTI_SZ value `Environment` of its key.
        let vars: Vec<String> = boot
            .env
            .iter()
            .map(|(k, v)| ps(&format!("{k}={v}")))
            .collect();
        s.push_str(
            "Set-ItemProperty -Path \"HKLM:\\SYSTEM\\CurrentControlSet\\Services\\$Name\" -Name Environment -Type MultiString -Value @(\n",
        );
        for v in vars {
            let _ = writeln!(s, "    {v}");
        }
        s.push_str(")\n");
    }
    s.push_str(
        "# Restart after a failure: after 5 s, 5 s, then 30 s; forget failures after a day.\n",
    );
    s.push_str(
        "sc.exe failure $Name reset= 86400 actions= restart/5000/restart/5000/restart/30000\n",
    );
    s.push_str("if ($LASTEXITCODE -ne 0) { throw \"sc.exe failure exited with $LASTEXITCODE\" }\n");
    s.push_str("Start-Service -Name $Name\n");
    s
}

/// A PowerShell single-quoted string: nothing is expanded, `'` is doubled.
fn ps(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// One word of a Windows command line (the MSVC rules): quoted when it holds a space, a
/// tab or a quote, with quotes and the backslashes before them escaped.
fn cmdline_word(s: &str) -> String {
    if !s.is_empty() && !s.contains([' ', '\t', '"']) {
        return s.to_string();
    }
    let mut out = String::from("\"");
    let mut backslashes = 0;
    for c in s.chars() {
        match c {
            '\\' => backslashes += 1,
            '"' => {
                out.push_str(&"\\".repeat(backslashes * 2 + 1));
                out.push('"');
                backslashes = 0;
            }
            c => {
                out.push_str(&"\\".repeat(backslashes));
                out.push(c);
                backslashes = 0;
            }
        }
    }
    out.push_str(&"\\".repeat(backslashes * 2));
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line_words() {
        assert_eq!(
            cmdline_word(r"C:\proctor\proctor.exe"),
            r"C:\proctor\proctor.exe"
        );
        assert_eq!(cmdline_word(r"C:\My Apps\x"), r#""C:\My Apps\x""#);
        assert_eq!(cmdline_word(r"a b\"), r#""a b\\""#);
        assert_eq!(cmdline_word(r#"say "hi""#), r#""say \"hi\"""#);
        assert_eq!(cmdline_word(""), r#""""#);
    }

    #[test]
    fn powershell_strings() {
        assert_eq!(ps("it's $x"), "'it''s $x'");
    }
}
