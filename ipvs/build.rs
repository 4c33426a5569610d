//! `ipvsctl` is linked as a fixed-address executable (not PIE): it then
//! starts without the dynamic loader relocating it, which under emulation
//! was 6% of a 10,000-service `ipvsctl save`.

fn main() {
    println!("cargo:rustc-link-arg-bin=ipvsctl=-no-pie");
}
