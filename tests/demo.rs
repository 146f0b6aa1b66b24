//! `docgate demo`, the README's first command: it must set up, accept its sample document
//! through the real API, write a usable `demo.json`, and stop on time.

mod common;

use std::time::Duration;

#[test]
fn the_demo_runs_end_to_end_and_its_manifest_drives_the_parts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let demo_dir = dir.path().join("demo");
    let output = common::docgate()
        .args(["demo", "--exit-after", "1", "--dir"])
        .arg(&demo_dir)
        .output()
        .expect("run the demo");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("accepted sample document"), "{stdout}");
    assert!(stdout.contains("\"state\":\"accepted\""), "{stdout}");

    // demo.json tells a script how to run the gateway itself, and the state survives.
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(demo_dir.join("demo.json")).expect("demo.json"))
            .expect("JSON");
    let gateway = &manifest["gateways"]["commune"];
    let command: Vec<String> = gateway["command"]
        .as_array()
        .expect("command")
        .iter()
        .map(|part| part.as_str().expect("string").to_string())
        .collect();
    let mut child = std::process::Command::new(&command[0])
        .args(&command[1..])
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("run the manifest's command");
    let client = common::client();
    let url = gateway["url"].as_str().expect("url");
    let token = gateway["api_token"].as_str().expect("token");
    let mut listed = None;
    for _ in 0..250 {
        if let Ok(response) = client
            .get(format!("{url}/api/v1/documents"))
            .bearer_auth(token)
            .send()
        {
            listed = response.json::<serde_json::Value>().ok();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    let listed = listed.expect("the gateway answered");
    assert_eq!(
        listed["documents"].as_array().expect("documents").len(),
        1,
        "{listed}"
    );
    assert_eq!(gateway["organ_id"], "001.01.10.H41");
}
