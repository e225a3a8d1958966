using static Lockstep.Models.Scenarios.Tasks;

namespace Lockstep.Models.Scenarios;

/// <summary>The built-in scenarios (KERNEL-FACTS §6.4), all in the thread's world (<see cref="WorldSpec.GuestRam"/>).</summary>
public static class BuiltInScenarios
{
    private static readonly WorldSpec GuestRam = WorldSpec.GuestRam;

    public static readonly IReadOnlyList<Scenario> All = new[]
    {
        new Scenario("oom-reap-vs-fault",
            "the OOM killer kills qemu; the reaper invalidates guest RAM non-blockably while a vCPU faults on it",
            GuestRam, [OomKiller(), OomReaper(), Vcpu(0, [0])]),
        new Scenario("oom-reap-vs-fault-riscv",
            "oom-reap-vs-fault on an arch without KVM_HAVE_MMU_RWLOCK: mmu_lock is a spinlock_t, faults take it exclusively",
            GuestRam.On(Arch.riscv), [OomKiller(), OomReaper(), Vcpu(0, [0])]),
        new Scenario("oom-reap-vs-memslot",
            "the reaper invalidates guest RAM while qemu deletes the memslot (kvm_swap_active_memslots waits for the count)",
            GuestRam, [OomKiller(), OomReaper(), Qemu(async w => await w.kvm_code.kvm_vm_ioctl_set_memory_region(w.kvm, new(w.slot.id, 0, 0, 0)), "L3")]),
        new Scenario("oom-reap-vs-exit",
            "the reaper races the victim's own exit: exit_mmap, then the VM fd's last put (kvm_destroy_vm)",
            GuestRam, [OomKiller(), OomReaper(), Qemu(async w =>
            {
                await w.mm_code.exit_mm();             // do_exit: exit_mm
                await w.kvm_code.kvm_put_kvm(w.kvm);   // then exit_files: the VM fd's last reference
            }, "L5")]),
        new Scenario("oom-reap-vs-gpc-refresh",
            "the reaper invalidates guest RAM while a vCPU activates and refreshes a gfn->pfn cache on it",
            GuestRam, [OomKiller(), OomReaper(), new TaskSpec("CPU 0/KVM", 4993, async w =>
            {
                var gpc = await w.kvm_code.kvm_gpc_activate(w.kvm, 0x1000);
                await w.kvm_code.kvm_gpc_refresh(w.kvm, gpc);
            }, "L4")]),
        new Scenario("reclaim-aging-vs-fault",
            "kswapd ages the guest page (clear_flush_young under the page-table lock) while a vCPU faults on it",
            GuestRam, [new TaskSpec("kswapd0", 90, async w => await w.mm_code.folio_referenced(w.mm, 0x1000)), Vcpu(0, [0])]),
        new Scenario("munmap-vs-fault",
            "qemu munmaps guest RAM (blockable invalidation) while a vCPU faults on it",
            GuestRam, [Qemu(w => w.mm_code.do_munmap(w.mm, 0x1000, 0x1002), "L5"), Vcpu(0, [0])]),
    };
}
