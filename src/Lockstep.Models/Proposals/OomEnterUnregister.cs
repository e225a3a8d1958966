using Lockstep.Engine;
using Lockstep.Kernel;
using Lockstep.Models.mm;
using Lockstep.Models.virt.kvm;
using static Lockstep.Kernel.rcuwait;
using static Lockstep.Kernel.Srcu;

namespace Lockstep.Models.Proposals;

/// <summary>
/// The v1 oom_enter patch as posted on Mar 28 2026 (Paolo's suggestion, P3): KVM's oom_enter calls
/// kvm_mmu_notifier_detach(), which unregisters the notifier and applies kvm_destroy_vm's unbalanced-count fixup.
/// </summary>
public sealed class OomEnterUnregister : KvmMain, mmu_notifier_oom_enter_op
{
    public static readonly Proposal Proposal = new("oom-enter-unregister", "oom_enter op; KVM detaches with mmu_notifier_unregister",
        "Paolo Bonzini's idea, v1 diff of Mar 28 2026 (KERNEL-FACTS §5 #6–#9)")
    { Mm = k => new OomEnterInOomKill(k), Kvm = m => new OomEnterUnregister(m) };

    /// <summary>+	int mn_killed; in struct kvm.</summary>
    private static readonly Field<int> mn_killed = new("kvm->mn_killed");

    public OomEnterUnregister(Mm mm) : base(mm) { }

    private async SimTask kvm_mmu_notifier_detach(kvm k)
    {
        using var fn = KernelFunction.Enter();
        if (await k.added.Get(mn_killed).Update(static _ => 1) != 0) return;   // xchg(&kvm->mn_killed, 1)
        await mm.mmu_notifier_unregister(k.mmu_notifier, k.mm);
        if (rcuwait_active(k.mn_memslots_update_rcuwait))
            Sim.Report(KernelLog.Warning("detach-with-waiter", "WARNING: rcuwait_active(&kvm->mn_memslots_update_rcuwait)", "detach"));
        if (await k.mn_active_invalidate_count.Read() != 0)
            await k.mn_active_invalidate_count.Write(0);
        else if (await k.mmu_invalidate_in_progress.Read() != 0)
            Sim.Report(KernelLog.Warning("detach-in-progress", "WARNING: kvm->mmu_invalidate_in_progress != 0 in kvm_mmu_notifier_detach", "detach"));
    }

    public async SimTask oom_enter(mmu_notifier mn, mm_struct mm_)
    {
        using var fn = KernelFunction.Enter("kvm_mmu_notifier_oom_enter");
        await kvm_mmu_notifier_detach(await mmu_notifier_to_kvm(mn));
    }

    public override async SimTask kvm_destroy_vm(kvm k)
    {
        using var fn = KernelFunction.Enter();
        await kvm_mmu_notifier_detach(k);   // - mmu_notifier_unregister(...) and the fixup; + the shared helper
        await kvm_arch_destroy_vm(k);
        await cleanup_srcu_struct(k.srcu);
        await kvm_arch_free_vm(k);
        await mm.mmdrop(k.mm);
    }
}
