using Lockstep.Engine;
using Lockstep.Models.virt.kvm;
using static Lockstep.Models.Scenarios.Tasks;

namespace Lockstep.Models.Scenarios;

/// <summary>
/// The built-in scenarios (KERNEL-FACTS §6.4): the first seven in the thread's world (<see cref="WorldSpec.GuestRam"/>);
/// the wider ones after them each add one thing the thread's world lacks (a second vCPU and a gfn other than 0, a
/// second invalidation with another range, the VM's fd closed while the mm lives, process_mrelease, an interval
/// notifier, a memslot MOVE), with as few tasks as show it.
/// </summary>
public static class BuiltInScenarios
{
    private static readonly WorldSpec GuestRam = WorldSpec.GuestRam;

    /// <summary>
    /// Guest RAM as in the thread's world without the gpc, and the APIC-access page's private memslot (gfn 0xfee00)
    /// over a shared page of its own, as kvm_alloc_apic_access_page creates it.
    /// </summary>
    private static readonly WorldSpec GuestRamAndApicPage = WorldSpec.Builder()
        .Vma(0x1000, pages: 2)
        .Vma(0x3000, pages: 1, anonymous: false, shared: true)
        .Vm(vm => vm.Memslot(base_gfn: 0, npages: 2, hva: 0x1000).PrivateMemslot(KvmMain.APIC_ACCESS_PAGE_PRIVATE_MEMSLOT, base_gfn: 0xfee00, npages: 1, hva: 0x3000))
        .Build();

    /// <summary>The thread's world where vCPU 0 has already run the guest on gfn 0 (its SPTE exists, the TLB caches it).</summary>
    private static readonly WorldSpec GuestRam0Faulted = WorldSpec.Builder()
        .Vma(0x1000, pages: 2)
        .Vm(vm => vm.Memslot(base_gfn: 0, npages: 2, hva: 0x1000).Gpc(0x1001).Faulted(vcpu: 0, 0))
        .Build();

    /// <summary><see cref="GuestRam0Faulted"/> with lib/test_hmm.c's device mirroring guest RAM through an interval notifier.</summary>
    private static readonly WorldSpec GuestRamAndDmirror = WorldSpec.Builder()
        .Vma(0x1000, pages: 2)
        .Vm(vm => vm.Memslot(base_gfn: 0, npages: 2, hva: 0x1000).Gpc(0x1001).Faulted(vcpu: 0, 0))
        .Dmirror(0x1000, pages: 2)
        .Build();

    /// <summary>QEMU's call_rcu thread, which frees guest RAM (qemu_ram_munmap) after the memory map changed.</summary>
    private static TaskSpec CallRcu(Func<World, SimTask> body) => new("call_rcu", 4995, body, "L5") { InVmm = true };

    /// <summary>munmap of all guest RAM.</summary>
    private static SimTask MunmapGuestRam(World w) => w.mm_code.do_munmap(w.mm, 0x1000, 0x1002);

    /// <summary>close() of the VM fd: kvm_vm_release puts the VM's last reference.</summary>
    private static SimTask CloseVmFd(World w) => w.kvm_code.kvm_put_kvm(w.kvm);

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
        new Scenario("munmap-vs-two-vcpus",
            "qemu munmaps guest RAM while vCPU 1 faults gfn 1 (the range's last page) and vCPU 0 runs the guest on gfn 0 through its TLB",
            GuestRam0Faulted, [Qemu(MunmapGuestRam, "L5"), Guest(0, [0]), Vcpu(1, [1])]),
        new Scenario("munmap-vs-reclaim",
            "two invalidations with different ranges open at once: qemu munmaps gfn 0's page while kswapd's try_to_unmap unmaps gfn 1's, and a vCPU faults gfn 0",
            GuestRam, [Qemu(w => w.mm_code.do_munmap(w.mm, 0x1000, 0x1001), "L5"),
                new TaskSpec("kswapd0", 90, w => w.mm_code.shrink_folio_list(w.mm, 0x1001)), Vcpu(0, [0])]),
        new Scenario("vm-close-vs-munmap",
            "qemu closes the VM fd while its mm lives (kvm_arch_destroy_vm deletes the APIC-access private memslot through kvm_swap_active_memslots) and call_rcu munmaps guest RAM",
            GuestRamAndApicPage, [Qemu(CloseVmFd, "L5"), CallRcu(MunmapGuestRam)]),
        new Scenario("vm-close-vs-aging",
            "mmu_notifier_unregister races a callback: qemu closes the VM fd while kswapd ages the guest page (KVM's clear_flush_young)",
            GuestRam, [Qemu(CloseVmFd, "L5"), new TaskSpec("kswapd0", 90, async w => await w.mm_code.folio_referenced(w.mm, 0x1000))]),
        new Scenario("mrelease-vs-fault",
            "lmkd SIGKILLs qemu and reaps it with process_mrelease (a non-blockable invalidation without the OOM killer) while a vCPU faults gfn 1",
            GuestRam, [new TaskSpec("lmkd", 610, async w =>
            {
                await w.mm_code.do_send_sig_info_SIGKILL(w.qemu);   // kill(pid, SIGKILL)
                await w.mm_code.process_mrelease(w.qemu);           // process_mrelease(pidfd, 0)
            }, "L1"), Vcpu(0, [1])]),
        new Scenario("munmap-vs-dmirror",
            "an interval-notifier subscriber beside KVM: qemu munmaps guest RAM while the dmirror device faults its second page and vCPU 0 runs the guest on gfn 0",
            GuestRamAndDmirror, [Qemu(MunmapGuestRam, "L5"), DmirrorFault(0, 0x1001), Guest(0, [0])]),
        new Scenario("memslot-move-vs-munmap",
            "qemu moves the memslot to gfn 0x100 (INVALID copy, zap, then the moved slot: two swaps) while call_rcu munmaps guest RAM that vCPU 0 has mapped",
            GuestRam0Faulted, [Qemu(async w => await w.kvm_code.kvm_vm_ioctl_set_memory_region(w.kvm, new(w.slot.id, 0x100, w.slot.npages, w.slot.userspace_addr)), "L3"),
                CallRcu(MunmapGuestRam)]),
    };
}
