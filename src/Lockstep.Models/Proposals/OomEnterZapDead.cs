using System.Collections.Immutable;
using Lockstep.Engine;
using Lockstep.Kernel;
using Lockstep.Models.mm;
using Lockstep.Models.virt.kvm;
using static Lockstep.Kernel.Api;
using static Lockstep.Kernel.Srcu;
using static Lockstep.Models.virt.kvm.kvm_mm;
using Lockstep.Models.arch.x86;

namespace Lockstep.Models.Proposals;

/// <summary>
/// Lockstep's candidate (the variant KERNEL-FACTS §6.3 P4 sketches): the reaper calls oom_enter once, before its first
/// non-blocking start, in a context that may block (SRCU read side only). KVM marks the VM dead and zaps every SPTE
/// and gpc under mmu_lock there; faults (under mmu_lock) and gpc refreshes (under gpc->lock) check vm_dead and map
/// nothing afterwards. Non-blockable
/// starts and ends of a VM that went through oom_enter then do no work and take no lock. Blockable ranges are untouched,
/// so pairs stay balanced. Trade-off: the VM cannot run again after the OOM reaper has visited it (it is being killed).
/// </summary>
public sealed class OomEnterZapDead : KvmMain, mmu_notifier_oom_enter_op
{
    public static readonly Proposal Proposal = new("oom-enter-zap-dead", "oom_enter from the reaper: VM dead + zap all, then non-blockable start/end are no-ops",
        "Lockstep (from KERNEL-FACTS §6.3 P4 variant)")
    { Mm = k => new MmOomEnterFromReaper(k), Kvm = m => new OomEnterZapDead(m), Mmu = kvm => new MmuRefusingDeadVm(kvm) };

    public OomEnterZapDead(Mm mm) : base(mm) { }

    /// <summary>+	bool oom_reaping; in struct kvm: set once oom_enter has zapped everything.</summary>
    private static readonly Field<bool> oom_reaping = new("kvm->oom_reaping");

    public async SimTask oom_enter(mmu_notifier mn, mm_struct mm_)
    {
        using var fn = KernelFunction.Enter("kvm_mmu_notifier_oom_enter");
        var k = await mmu_notifier_to_kvm(mn);
        var idx = await srcu_read_lock(k.srcu);
        await KVM_MMU_LOCK(k.mmu_lock);
        await k.vm_dead.Write(true);                 // kvm_vm_dead(): no SPTE is installed from here on
        await k.sptes.Write(ImmutableDictionary<long, page>.Empty);   // kvm_arch_flush_shadow_all
        await kvm_flush_remote_tlbs(k);
        await KVM_MMU_UNLOCK(k.mmu_lock);
        await gfn_to_pfn_cache_invalidate_start(k, 0, ulong.MaxValue);
        await srcu_read_unlock(k.srcu, idx);
        await k.added.Get(oom_reaping).Write(true);
    }

    public override async SimTask<int> kvm_mmu_notifier_invalidate_range_start(mmu_notifier mn, mmu_notifier_range range)
    {
        if (!range.mmu_notifier_range_blockable() && await (await mmu_notifier_to_kvm(mn)).added.Get(oom_reaping).Read()) return 0;
        return await base.kvm_mmu_notifier_invalidate_range_start(mn, range);
    }

    public override async SimTask kvm_mmu_notifier_invalidate_range_end(mmu_notifier mn, mmu_notifier_range range)
    {
        if (!range.mmu_notifier_range_blockable() && await (await mmu_notifier_to_kvm(mn)).added.Get(oom_reaping).Read()) return;
        await base.kvm_mmu_notifier_invalidate_range_end(mn, range);
    }

    /// <summary>
    /// A gpc refresh after the zap would map guest memory again (found by oom-reap-vs-gpc-refresh): refuse under
    /// gpc->lock once the VM is dead. oom_enter invalidates every gpc after setting vm_dead, so a refresh that
    /// checked just before is invalidated there.
    /// </summary>
    public override async SimTask<bool> mmu_notifier_retry_cache(kvm k, long mmu_seq)
        => await k.vm_dead.Read() || await base.mmu_notifier_retry_cache(k, mmu_seq);

    /// <summary>arch side: a fault of a dead VM is stale (it maps nothing after the zap).</summary>
    private sealed class MmuRefusingDeadVm(KvmMain kvm_code) : Mmu(kvm_code)
    {
        public override async SimTask<bool> is_page_fault_stale(kvm k, long mmu_seq, long gfn)
            => await k.vm_dead.Read() || await base.is_page_fault_stale(k, mmu_seq, gfn);
    }

    /// <summary>mm side: mmu_notifier_oom_enter (the v1 walk) called at the top of __oom_reap_task_mm.</summary>
    private sealed class MmOomEnterFromReaper : MmWithOomEnter
    {
        public MmOomEnterFromReaper(Kernel.Kernel kernel) : base(kernel) { }

        public override async SimTask<bool> __oom_reap_task_mm(mm_struct mm)
        {
            await mmu_notifier_oom_enter(mm);
            return await base.__oom_reap_task_mm(mm);
        }
    }
}
