//! `strata`: the appliance binary.

fn main() {
    println!("strata {}", strata::VERSION);
}
