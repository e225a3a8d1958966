using System.Text;
using Lockstep.Engine;
using Lockstep.Kernel;
using Lockstep.Models.Proposals;
using Lockstep.Models.Scenarios;

namespace Lockstep.Models;

/// <summary>
/// One distinct finding of a proposal × config × scenario run: a property, the report that violates it, the token of one
/// execution that reports it (the fewest preemptions, then steps, that shrinking found), how many explored executions
/// reported it, and the strategy that first found it (the run's own, or the fallback that spent the rest of its budget).
/// </summary>
public sealed record Finding(string Property, Violation Violation, string Token, long Executions, string FoundBy)
{
    /// <summary>
    /// What makes two findings the same, in one run or across proposals: the property and the report's
    /// <see cref="Violation.Key"/> (kind, function, lock classes; never anything that depends on the schedule).
    /// </summary>
    public string Signature => Violation.Key;
}

/// <summary>What exploring one scenario of one proposal under one config found: every distinct finding.</summary>
public sealed record ScenarioRun(Proposal Proposal, KernelConfig Config, Scenario Scenario, ExplorationResult Exploration,
    IReadOnlyList<Finding> Findings, string? ModelError);

/// <summary>
/// How a finding stands against the baseline's run of the same config and scenario: the proposal's, which the baseline
/// does not have (new) or has too (kept); or the baseline's, which the proposal no longer has (fixed).
/// </summary>
public enum Change { New, Kept, Fixed }

/// <summary>
/// A run against its baseline's run of the same config and scenario: each of its findings new or kept (the baseline has
/// one with the same property and signature), and the baseline's findings it does not have (fixed).
/// </summary>
public sealed record Comparison(IReadOnlyList<(Finding Finding, Change Change)> Findings, IReadOnlyList<Finding> Fixed)
{
    public static Comparison Of(ScenarioRun run, ScenarioRun baseline)
    {
        static (string, string) Id(Finding f) => (f.Property, f.Signature);
        var before = baseline.Findings.Select(Id).ToHashSet();
        var after = run.Findings.Select(Id).ToHashSet();
        return new Comparison(run.Findings.Select(f => (f, before.Contains(Id(f)) ? Change.Kept : Change.New)).ToList(),
            baseline.Findings.Where(f => !after.Contains(Id(f))).ToList());
    }
}

/// <summary>Runs proposals through scenarios and maps every report to its property (KERNEL-FACTS §6.1).</summary>
public static class Suite
{
    public static IReadOnlyList<KernelConfig> Configs { get; } = new[] { KernelConfig.Default, KernelConfig.Rt };

    /// <summary>
    /// Explores one scenario of one proposal under one config; with a <paramref name="saturation"/> rule its phases stop
    /// when they stop finding anything new. <paramref name="found"/> is told of each finding when an execution first
    /// reports it (its token the unshrunk execution's).
    /// </summary>
    public static ScenarioRun Run(Registry registry, Proposal proposal, KernelConfig config, Scenario scenario, IStrategy strategy, ExplorationOptions options,
        Saturation? saturation = null, Action<Finding>? found = null)
    {
        var kernel = new Kernel.Kernel(config);
        var model = scenario.Model(kernel, proposal);
        var rule = saturation?.For(kernel);
        var exploration = Explorer.Explore(model, strategy, options with
        {
            StopOnFirstViolation = false,
            FreshModel = () => scenario.Model(new Kernel.Kernel(config), proposal),
            StopPhase = rule?.Stop,
            Found = rule == null && found == null ? null : v =>
            {
                rule?.Found(v);
                if (found == null) return;
                var token = CheckToken.For(registry, proposal, config, scenario, v.Token).ToString();
                foreach (var (property, report) in Classify(registry, v, scenario))
                    found(new Finding(property, report, token, 1, v.FoundBy ?? strategy.Description));
            },
        });
        var (findings, modelError) = Findings(registry, proposal, config, scenario, exploration);
        return new ScenarioRun(proposal, config, scenario, exploration, findings, modelError);
    }

    /// <summary>
    /// An exploration's violations as findings: one per property and signature, each with its check token; and the
    /// first violation no property takes (a crash, or a kind nobody mapped) as a model error.
    /// </summary>
    public static (IReadOnlyList<Finding> Findings, string? ModelError) Findings(Registry registry, Proposal proposal, KernelConfig config,
        Scenario scenario, ExplorationResult exploration)
    {
        var findings = new List<Finding>();
        string? modelError = null;
        foreach (var v in exploration.Violations)
        {
            var token = CheckToken.For(registry, proposal, config, scenario, v.Token).ToString();
            var properties = Classify(registry, v, scenario).ToList();
            if (properties.Count == 0)
                modelError ??= v is KernelReport ? $"report kind '{v.Kind}' maps to no property (a user check registers its kind: RegisterWarning(kind, property)): {v.Message} (token {token})"
                    : $"{v.Message} (token {token})";
            foreach (var (property, report) in properties)
                if (!findings.Any(f => f.Property == property && f.Signature == report.Key))
                    findings.Add(new Finding(property, report, token, v.Hits, v.FoundBy ?? exploration.Strategy));
        }
        return (findings, modelError);
    }

    /// <summary>
    /// Runs every job, <paramref name="parallelism"/> at a time on threads of its own (each exploration is single-threaded
    /// and independent); results come back in job order. <paramref name="started"/> and <paramref name="done"/> are told of
    /// each job (from the worker threads). A job whose model runs <paramref name="stallLimit"/> without finishing an
    /// execution (model code that never reaches a scheduling point: an endless loop in a patch, say) is abandoned: its
    /// run is a model error, the other jobs go on, and its thread is left to die with the process. Each run has the
    /// <paramref name="saturation"/> rule (<see cref="Run"/>), and <paramref name="found"/> hears of its findings by job index.
    /// </summary>
    public static IReadOnlyList<ScenarioRun> RunAll(Registry registry, IReadOnlyList<(Proposal Proposal, KernelConfig Config, Scenario Scenario)> jobs,
        Func<IStrategy> strategy, Func<Proposal, ExplorationOptions> options, int parallelism, TimeSpan stallLimit,
        Action<int>? started = null, Action<ScenarioRun>? done = null, Saturation? saturation = null, Action<int, Finding>? found = null)
    {
        var results = new ScenarioRun?[jobs.Count];
        var completed = new bool[jobs.Count];   // its result is in and reported (under the lock on results)
        var beats = new long[jobs.Count];
        var next = 0;
        var running = new List<int>();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        using var finished = new AutoResetEvent(false);
        void Start(int i)
        {
            Volatile.Write(ref beats[i], clock.ElapsedTicks);
            var thread = new Thread(() =>
            {
                started?.Invoke(i);
                var (p, c, sc) = jobs[i];
                var run = Run(registry, p, c, sc, strategy(), options(p) with { Heartbeat = () => Volatile.Write(ref beats[i], clock.ElapsedTicks) },
                    saturation, found == null ? null : f => found(i, f));
                lock (results)
                {
                    if (results[i] != null) return;   // abandoned as stalled meanwhile
                    results[i] = run;
                    done?.Invoke(run);
                    completed[i] = true;
                    // under the lock: once the loop below sees the last job completed it returns and disposes the event
                    finished.Set();
                }
            }) { IsBackground = true, Name = $"lockstep job {i}" };
            running.Add(i);
            thread.Start();
        }
        while (true)
        {
            lock (results) running.RemoveAll(i => completed[i]);   // done or abandoned: its slot is free
            while (running.Count < Math.Max(1, parallelism) && next < jobs.Count) Start(next++);
            if (running.Count == 0) break;
            foreach (var i in running.ToList())
            {
                var idle = TimeSpan.FromSeconds((clock.ElapsedTicks - Volatile.Read(ref beats[i])) / (double)System.Diagnostics.Stopwatch.Frequency);
                if (idle < stallLimit) continue;
                var (p, c, sc) = jobs[i];
                var stalled = new ScenarioRun(p, c, sc, new ExplorationResult("stalled", 0, 0, 0, false, "stall", idle, Array.Empty<Violation>()),
                    Array.Empty<Finding>(), $"an execution ran {idle.TotalSeconds:0} s without reaching a scheduling point (an endless loop in model code?); the run was abandoned");
                lock (results)
                {
                    if (results[i] != null) continue;
                    results[i] = stalled;
                    done?.Invoke(stalled);
                    completed[i] = true;
                }
                running.Remove(i);
            }
            finished.WaitOne(TimeSpan.FromMilliseconds(100));
        }
        return results.Select(r => r!).ToList();
    }

    /// <summary>
    /// Which properties a violation breaks, by the property table and the registry's user kinds
    /// (<see cref="Registry.PropertiesOf"/>); a hang is the hung-task report (S4) plus the liveness property of each hung
    /// task. None: a model error (a crash, or a kind nobody mapped).
    /// </summary>
    public static IEnumerable<(string Property, Violation Report)> Classify(Registry registry, Violation v, Scenario scenario)
    {
        if (v is DeadlockViolation d)
        {
            var hung = HungTasks(d);
            foreach (var p in registry.PropertiesOf(hung.Kind)) yield return (p, hung);
            foreach (var t in d.Blocked)
                if (t.Tag is TaskStruct task && scenario.Liveness.TryGetValue(task.comm, out var p))
                    yield return (p, hung);
            yield break;
        }
        foreach (var p in registry.PropertiesOf(v.Kind)) yield return (p, v);
    }

    /// <summary>A deadlock in the kernel's words: the hung-task detector's report for every blocked task.</summary>
    private static Violation HungTasks(DeadlockViolation d)
    {
        var sb = new StringBuilder();
        var hung = d.Blocked.Where(t => t.Tag is TaskStruct { pid: not 0 }).ToList();   // not the scenario's boot task joining them
        foreach (var t in hung)
        {
            var task = (TaskStruct)t.Tag!;
            sb.AppendLine($"INFO: task {task.comm}:{task.pid} blocked for more than 120 seconds.");
            sb.AppendLine("\"echo 0 > /proc/sys/kernel/hung_task_timeout_secs\" disables this message.");
            sb.AppendLine($"task:{task.comm,-15} state:D pid:{task.pid} ({t.PendingDescription})");
            sb.AppendLine("Call Trace:");
            sb.AppendLine(" <TASK>");
            sb.AppendLine(" schedule");
            for (var i = task.stack.Count - 1; i >= 0; i--) sb.AppendLine($" {task.stack[i]}");
            sb.AppendLine(" </TASK>");
            if (task.held_locks.Count > 0)
            {
                sb.AppendLine($"{task.held_locks.Count} lock{(task.held_locks.Count == 1 ? "" : "s")} held by {task}:");
                for (var i = 0; i < task.held_locks.Count; i++)
                    sb.AppendLine($" #{i}: ({task.held_locks[i].Class.Name}), at: {task.held_locks[i].Site}");
            }
        }
        var first = hung.Select(t => t.Tag).OfType<TaskStruct>().FirstOrDefault();
        var headline = first != null ? $"INFO: task {first.comm}:{first.pid} blocked for more than 120 seconds." : d.Message;
        return new KernelReport("hung-task", headline, sb.ToString(), first?.ToString() ?? "?",
            d.Stuck, first?.Kernel.Config ?? KernelConfig.Default)
        { Prerequisite = d.Prerequisite };
    }

    /// <summary>A replayed check token: what it names, the kernel whose lockdep graph the replay built, and the replay.</summary>
    public sealed record Replayed(Proposal Proposal, KernelConfig Config, Scenario Scenario, Kernel.Kernel Kernel, ReplayResult Replay);

    /// <summary>Re-runs the execution a check token names, against the model <paramref name="registry"/> holds.</summary>
    /// <exception cref="FormatException">The token is malformed.</exception>
    /// <exception cref="ArgumentException">It names an unknown proposal, config or scenario, or comes from other code.</exception>
    public static Replayed Replay(Registry registry, string token, Func<SimThread, object?>? annotator = null)
    {
        var parsed = CheckToken.Parse(token);
        var (proposal, config, scenario) = parsed.Resolve(registry);
        var kernel = new Kernel.Kernel(config);
        return new Replayed(proposal, config, scenario, kernel, Explorer.Replay(scenario.Model(kernel, proposal), parsed.Schedule, annotator: annotator));
    }
}
