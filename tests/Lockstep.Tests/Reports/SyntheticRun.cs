using Lockstep.Engine;
using Lockstep.Kernel;
using Lockstep.Models;
using Lockstep.Models.Scenarios;
using Lockstep.Reporting;
using static Lockstep.Kernel.Api;
using K = Lockstep.Kernel.Kernel;

namespace Lockstep.Tests.Reporting;

/// <summary>
/// A small model built on the kernel layer alone (so that the golden files do not move when the mm/KVM models do):
/// qemu takes slots_lock then oom_lock; the reaper takes oom_lock, then slots_lock inside a non-blocking section.
/// It yields a might_sleep splat (S2), lockdep's circular dependency (S3) and the ABBA deadlock itself (S4).
/// </summary>
internal static class SyntheticRun
{
    public const string Proposal = "synthetic";

    private static readonly Registry Registry = Registry.WithBuiltIns();
    public const string Scenario = "abba";

    /// <summary>The tasks' liveness roles (their bodies are the model's, below).</summary>
    public static readonly Scenario Description = new(Scenario, "qemu: slots_lock -> oom_lock; oom_reaper: oom_lock -> slots_lock in a non-blocking section",
        WorldSpec.GuestRam, [new TaskSpec("oom_reaper", 53, _ => SimTask.CompletedTask, "L1"), new TaskSpec("qemu", 4992, _ => SimTask.CompletedTask, "L3")]);

    public static Func<SimTask> Model(K k) => k.Boot(async () =>
    {
        var slots = new mutex(k, "&kvm->slots_lock");
        var oom = new mutex(k, "oom_lock");
        var qemu = k.kthread_run(async () =>
        {
            using var fn = KernelFunction.Enter("kvm_set_memslot");
            await mutex_lock(slots);
            await mutex_lock(oom);
            await mutex_unlock(oom);
            await mutex_unlock(slots);
        }, "qemu", 4992);
        var reaper = k.kthread_run(async () =>
        {
            using var fn = KernelFunction.Enter("oom_reap_task_mm");
            await mutex_lock(oom);
            non_block_start();
            using (KernelFunction.Enter("kvm_mmu_notifier_invalidate_range_start"))
            {
                await mutex_lock(slots);
                await mutex_unlock(slots);
            }
            non_block_end();
            await mutex_unlock(oom);
        }, "oom_reaper", 53);
        await qemu.Exited!.Value.Join();
        await reaper.Exited!.Value.Join();
    });

    /// <summary>The exploration (DPOR, exhaustive) with the kernel whose lockdep graph it built.</summary>
    public static (K Kernel, ExplorationResult Result) Explore(KernelConfig config)
    {
        var kernel = new K(config);
        var result = Explorer.Explore(Model(kernel), new DporStrategy(), new ExplorationOptions { StopOnFirstViolation = false });
        return (kernel, result);
    }

    public static string Token(KernelConfig config, Violation v) => $"{Proposal}/{config.Name}/{Scenario}/{v.Token}";

    /// <summary>The explained trace of one of the exploration's violations, replayed on a fresh kernel.</summary>
    public static ExplainedTrace Explain(KernelConfig config, Violation v)
    {
        var replay = Explorer.Replay(Model(new K(config)), v.Token, annotator: TaskContext.Of);
        var header = new List<KeyValuePair<string, string>>
        {
            new("proposal", $"{Proposal} (a test model)"),
            new("config", config.Describe()),
            new("scenario", $"{Scenario}: {Description.Description}"),
        };
        return TraceCapture.Build(Token(config, v), Proposal, config.Name, Scenario, header, replay, x => Suite.Classify(Registry, x, Description));
    }

    /// <summary>A check run over the synthetic model: a cell per property with every distinct finding of the exploration (no baseline).</summary>
    public static (CheckResults Results, Dictionary<string, ExplainedTrace> Traces) Check(KernelConfig config)
    {
        var (_, result) = Explore(config);
        var found = result.Violations.SelectMany(v => Suite.Classify(Registry, v, Description).Select(c => (v, c.Property, c.Report))).ToList();
        var cells = Properties.Ids.Select(p =>
        {
            var findings = found.Where(x => x.Property == p)
                .Select(x => new CellFinding(Scenario, x.Report.Key, x.Report.Message, x.Report.Render(), Token(config, x.v), x.v.Hits, x.v.FoundBy!, null))
                .ToList();
            return new Cell(Proposal, config.Name, p, findings.Count > 0 ? "violated" : "holds", result.Executions, result.Exhaustive, findings, [], []);
        }).ToList();
        var traces = found.Select(x => x.v).Distinct().ToDictionary(v => Token(config, v), v => Explain(config, v));
        return (new CheckResults(cells, Properties.Ids, null, TimeSpan.FromSeconds(1.5)), traces);
    }
}
