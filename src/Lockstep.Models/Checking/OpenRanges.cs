using System.Collections.Immutable;
using Lockstep.Engine;
using Lockstep.Kernel;
using Lockstep.Models.mm;

namespace Lockstep.Models.Checking;

/// <summary>
/// The S5 oracle (KERNEL-FACTS §6.1 "Contract conformance"), beside the notifier core: per subscriber, invalidating
/// task and range (a struct mmu_notifier_range is a local of the task that makes the start and delivers the end), the
/// starts that succeeded for a subscriber with an end. An end with no open start is reported at once; a
/// start with no end when the system is quiet (unless the subscriber left the list meanwhile, which ends its
/// contract). Different tasks' entries commute, so the oracle orders no two invalidations.
/// </summary>
public sealed class OpenRanges
{
    private readonly Shared<ImmutableDictionary<(mmu_notifier, TaskStruct, ulong start, ulong end), int>> _open =
        new("S5 oracle: open ranges", ImmutableDictionary<(mmu_notifier, TaskStruct, ulong, ulong), int>.Empty);

    /// <summary>A start of <paramref name="subscription"/> in <paramref name="range"/> succeeded.</summary>
    public async SimTask opened(mmu_notifier subscription, mmu_notifier_range range)
    {
        if (!subscription.ops.Has(mmu_notifier_ops.Op.invalidate_range_end)) return;
        var key = (subscription, Api.current, range.start, range.end);
        await _open.Commute(d => d.SetItem(key, d.GetValueOrDefault(key) + 1));
    }

    /// <summary>An end is delivered; <paramref name="compensating"/>: the core's compensation after a failed start.</summary>
    public async SimTask closed(mmu_notifier subscription, mmu_notifier_range range, bool compensating)
    {
        var key = (subscription, Api.current, range.start, range.end);
        // Only this task touches its own entries, so it reads them without ordering anyone.
        if (_open.Peek.GetValueOrDefault(key) > 0)
        {
            await _open.Commute(d => d[key] == 1 ? d.Remove(key) : d.SetItem(key, d[key] - 1));
            return;
        }
        if (compensating) return;   // a subscriber whose start failed has no end by contract
        Sim.Report(KernelLog.Warning("end-without-start",
            $"WARNING: invalidate_range_end [{range.start:x}, {range.end:x}) delivered without a successful start",
            subscription.ops.GetType().Name));
    }

    /// <summary>Quiescence: every start of a subscriber still on the list has had its end.</summary>
    public async SimTask check_quiescent()
    {
        foreach (var ((subscription, task, start, end), n) in await _open.Read())
        {
            if (!await subscription.hlist.pprev.Read()) continue;
            Sim.Report(KernelLog.Warning("start-without-end",
                $"WARNING: invalidate_range_start [{start:x}, {end:x}) of {subscription.ops.GetType().Name} never got its invalidate_range_end",
                subscription.ops.GetType().Name,
                $"{n} start{(n == 1 ? "" : "s")} by {task} still open with nothing running"));
        }
    }
}
