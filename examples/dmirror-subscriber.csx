// A world with a second notifier subscriber: besides the VM, lib/test_hmm.c's dmirror device mirrors guest RAM through
// an interval notifier. Its non-blockable invalidate only trylocks the device mutex, which a device fault holds while
// it installs a mapping: the reaper's invalidation then fails with -EAGAIN and the reaper retries.
//
//   lockstep check --world examples/dmirror-subscriber.csx --proposal mainline

var world = WorldSpec.Builder()
    .Vma(0x1000, pages: 2)
    .Vm(vm => vm.Memslot(base_gfn: 0, npages: 2, hva: 0x1000))
    .Dmirror(0x1000, pages: 2)
    .Build();

Register(new Scenario("oom-reap-vs-dmirror-fault",
    "the reaper invalidates guest RAM while a dmirror device faults on it and a vCPU faults gfn 0",
    world, [OomKiller(), OomReaper(), DmirrorFault(0, 0x1001), Vcpu(0, [0])]));
