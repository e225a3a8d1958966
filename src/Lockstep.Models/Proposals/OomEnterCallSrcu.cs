using Lockstep.Engine;
using Lockstep.Kernel;
using Lockstep.Models.mm;
using Lockstep.Models.virt.kvm;
using static Lockstep.Kernel.Api;
using static Lockstep.Kernel.Srcu;

namespace Lockstep.Models.Proposals;

/// <summary>
/// [PATCH v2 1/1] mm/mmu_notifier: Add async OOM cleanup via call_srcu() (Apr 30 2026, P5), as far as the cover
/// letter describes it: mmu_notifier_oom_enter, now called from __oom_reap_task_mm, unhooks every subscriber that has
/// after_oom_unregister (hlist_del_init) and schedules the op with call_srcu; KVM's op clears the count;
/// kvm_destroy_vm sees the unhashed node and uses mmu_notifier_barrier() + mmdrop instead of unregister.
/// </summary>
/// <summary>The op v2 adds to struct mmu_notifier_ops.</summary>
/// <remarks>+	void (*after_oom_unregister)(struct mmu_notifier *subscription, struct mm_struct *mm);</remarks>
public interface mmu_notifier_after_oom_unregister_op
{
    SimTask after_oom_unregister(mmu_notifier subscription, mm_struct mm);
}

public sealed class OomEnterCallSrcu : KvmMain, mmu_notifier_after_oom_unregister_op
{
    public static readonly Proposal Proposal = new("oom-enter-call-srcu", "v2: detach in oom_enter, after_oom_unregister via call_srcu",
        "shaikh kamaluddin, v2 of Apr 30 2026 (KERNEL-FACTS §5 #11, §6.3 P5)")
    { Mm = k => new MmV2(k), Kvm = m => new OomEnterCallSrcu(m) };

    public OomEnterCallSrcu(Mm mm) : base(mm) { }

    public async SimTask after_oom_unregister(mmu_notifier mn, mm_struct mm_)
    {
        using var fn = KernelFunction.Enter("kvm_mmu_notifier_after_oom_unregister");
        await (await mmu_notifier_to_kvm(mn)).mn_active_invalidate_count.Write(0);
    }

    public override async SimTask kvm_destroy_vm(kvm k)
    {
        if (!await hlist_head.hlist_unhashed(k.mmu_notifier))
        {
            await base.kvm_destroy_vm(k);
            return;
        }
        using var fn = KernelFunction.Enter();
        await srcu_barrier(mm.srcu);   // + mmu_notifier_barrier();
        await kvm_arch_destroy_vm(k);
        await cleanup_srcu_struct(k.srcu);
        await kvm_arch_free_vm(k);
        await mm.mmdrop(k.mm);         // the registration's mmgrab
        await mm.mmdrop(k.mm);
    }

    /// <summary>The mm side of v2.</summary>
    private sealed class MmV2 : Mm
    {
        public MmV2(Kernel.Kernel kernel) : base(kernel) { }

        private async SimTask mmu_notifier_oom_enter(mm_struct mm)
        {
            using var fn = KernelFunction.Enter();
            if (!await mm.mm_has_notifiers()) return;
            var subscriptions = mm.subscriptions();
            var id = await srcu_read_lock(srcu);
            await spin_lock(subscriptions.@lock);
            await foreach (var subscription in subscriptions.list)
            {
                if (subscription.ops is not mmu_notifier_after_oom_unregister_op op) continue;
                await subscriptions.list.hlist_del_init(subscription);
                await call_srcu(srcu, () => Call(subscription, s => op.after_oom_unregister(s, mm)));
            }
            await spin_unlock(subscriptions.@lock);
            await srcu_read_unlock(srcu, id);
        }

        public override async SimTask<bool> __oom_reap_task_mm(mm_struct mm)
        {
            await mmu_notifier_oom_enter(mm);   // + moved here from __oom_kill_process
            return await base.__oom_reap_task_mm(mm);
        }
    }
}
