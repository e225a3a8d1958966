using Lockstep.Models.mm;
using Lockstep.Models.virt.kvm;
using static Lockstep.Models.Scenarios.Scenario;

namespace Lockstep.Models.Scenarios;

/// <summary>The built-in scenarios (KERNEL-FACTS §6.4).</summary>
public static class BuiltInScenarios
{
    private static TaskSpec OomKiller => new("stress", 4100, w => w.mm_code.out_of_memory(w.qemu));

    private static TaskSpec OomReaper => new("oom_reaper", 53, w => w.mm_code.oom_reaper(victims: 1));

    /// <summary>A vCPU that faults gfn in and then runs the guest on it.</summary>
    private static TaskSpec Vcpu(long gfn) => new("CPU 0/KVM", 4993, async w =>
    {
        if (await Mmu.kvm_tdp_page_fault(w.kvm_code, w.kvm, gfn)) await Mmu.vcpu_enter_guest(w.kvm, gfn);
    });

    public static readonly IReadOnlyList<Scenario> All = new[]
    {
        new Scenario("oom-reap-vs-fault",
            "the OOM killer kills qemu; the reaper invalidates guest RAM non-blockably while a vCPU faults on it",
            new[] { OomKiller, OomReaper, Vcpu(0) },
            new Dictionary<string, string> { ["oom_reaper"] = "L1", ["stress"] = "L1", ["CPU 0/KVM"] = "L4" }),
        new Scenario("oom-reap-vs-fault-riscv",
            "oom-reap-vs-fault on an arch without KVM_HAVE_MMU_RWLOCK: mmu_lock is a spinlock_t, faults take it exclusively",
            new[] { OomKiller, OomReaper, Vcpu(0) },
            new Dictionary<string, string> { ["oom_reaper"] = "L1", ["stress"] = "L1", ["CPU 0/KVM"] = "L4" },
            Arch.riscv),
        new Scenario("oom-reap-vs-memslot",
            "the reaper invalidates guest RAM while qemu deletes the memslot (kvm_swap_active_memslots waits for the count)",
            new[] { OomKiller, OomReaper, new TaskSpec("qemu", 4992, w => w.kvm_code.kvm_delete_memslot(w.kvm, w.slot)) },
            new Dictionary<string, string> { ["oom_reaper"] = "L1", ["stress"] = "L1", ["qemu"] = "L3" }),
        new Scenario("oom-reap-vs-exit",
            "the reaper races the victim's own exit: exit_mmap, then the VM fd's last put (kvm_destroy_vm)",
            new[] { OomKiller, OomReaper, new TaskSpec("qemu", 4992, async w =>
            {
                await w.mm_code.mmput(w.mm);          // do_exit: exit_mm
                await w.kvm_code.kvm_put_kvm(w.kvm);   // then exit_files: the VM fd's last reference
            }) },
            new Dictionary<string, string> { ["oom_reaper"] = "L1", ["stress"] = "L1", ["qemu"] = "L5" }),
        new Scenario("oom-reap-vs-gpc-refresh",
            "the reaper invalidates guest RAM while a vCPU activates and refreshes a gfn->pfn cache on it",
            new[] { OomKiller, OomReaper, new TaskSpec("CPU 0/KVM", 4993, async w =>
            {
                var gpc = await KvmMain.kvm_gpc_activate(w.kvm, 0x1000);
                await w.kvm_code.kvm_gpc_refresh(w.kvm, gpc);
            }) },
            new Dictionary<string, string> { ["oom_reaper"] = "L1", ["stress"] = "L1", ["CPU 0/KVM"] = "L4" }),
        new Scenario("reclaim-aging-vs-fault",
            "kswapd ages the guest page (clear_flush_young under the page-table lock) while a vCPU faults on it",
            new[] { new TaskSpec("kswapd0", 90, async w => await w.mm_code.folio_referenced(w.mm, 0x1000)), Vcpu(0) },
            new Dictionary<string, string> { ["CPU 0/KVM"] = "L4" }),
        new Scenario("munmap-vs-fault",
            "qemu munmaps guest RAM (blockable invalidation) while a vCPU faults on it",
            new[] { new TaskSpec("qemu", 4992, w => w.mm_code.do_munmap(w.mm, 0x1000, 0x1002)), Vcpu(0) },
            new Dictionary<string, string> { ["qemu"] = "L5", ["CPU 0/KVM"] = "L4" }),
    };

}
