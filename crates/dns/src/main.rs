//! Standalone `labyrinth-dns` binary (same as `labyrinth dns`), used by the
//! benchmark to run the server as its own pinned process.

use clap::Parser;

#[derive(Parser)]
#[command(name = "labyrinth-dns", about = "Kubernetes cluster DNS server")]
struct Cli {
    #[command(flatten)]
    args: labyrinth_dns::Args,
}

fn main() {
    let cli = Cli::parse();
    match labyrinth_dns::run(cli.args) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("labyrinth dns: {e:#}");
            std::process::exit(1);
        }
    }
}
