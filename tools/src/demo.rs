//! `walkdb demo`: placeholder module, filled in by the demo commit.
#[derive(clap::Args, Debug)]
pub(crate) struct DemoArgs {}

pub(crate) fn demo(_args: &DemoArgs) -> crate::CliResult {
    Err(crate::CliError::usage("the demo is not built yet"))
}
