// A world of one's own: guest RAM of four pages in two memslots, two vCPUs faulting a gfn in each, while the OOM
// killer kills qemu and the reaper invalidates guest RAM.
//
//   lockstep check --world examples/two-vcpus-two-memslots.csx --proposal mainline

var world = WorldSpec.Builder()
    .Vma(0x1000, pages: 4)
    .Vm(vm => vm
        .Memslot(base_gfn: 0, npages: 2, hva: 0x1000)
        .Memslot(base_gfn: 0x100, npages: 2, hva: 0x1002)
        .Gpc(0x1001))
    .Build();

Register(new Scenario("oom-reap-vs-two-vcpus",
    "the reaper invalidates four pages of guest RAM in two memslots while vCPU 0 faults gfn 0 and vCPU 1 gfn 0x101",
    world, [OomKiller(), OomReaper(), Vcpu(0, [0]), Vcpu(1, [0x101])]));
