using System.Diagnostics;
using Lockstep.Models;
using Spectre.Console;

namespace Lockstep.Cli;

/// <summary>How much a command says while it works: nothing (--quiet), the default, or everything (--verbose).</summary>
public enum Verbosity { Quiet, Normal, Verbose }

/// <summary>The terminal: Spectre.Console when a stream is a terminal, plain lines when it is a file or a pipe (CI logs).</summary>
public static class Terminal
{
    public static bool StdoutIsTerminal => !Console.IsOutputRedirected;

    public static bool StderrIsTerminal => !Console.IsErrorRedirected;

    /// <summary>Spectre on stdout (colour and live output only when stdout is a terminal).</summary>
    public static IAnsiConsole Out { get; } = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Out) });

    /// <summary>Spectre on stderr: progress goes there so that stdout (--json -) stays clean.</summary>
    public static IAnsiConsole Err { get; } = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
}

/// <summary>What the check loop tells the progress display.</summary>
public interface ICheckProgress
{
    void RunStarted(string proposal, string config, string scenario);

    /// <summary>Called after every execution of the current run with the number done so far.</summary>
    void Executions(long done);

    void RunFinished(ScenarioRun run);

    /// <summary>A finding no run of the check had made yet (by row, property and signature), when an execution first made it.</summary>
    void Found(string proposal, string config, string scenario, Finding finding);
}

/// <summary>
/// Progress of `lockstep check`: a live Spectre progress bar (executions/s, the current proposal × config × scenario)
/// when stderr is a terminal, one plain line per finished run when it is not, nothing with --quiet.
/// </summary>
public static class CheckProgress
{
    public static void Run(Verbosity verbosity, int totalRuns, long maxExecutions, Action<ICheckProgress> work)
    {
        if (verbosity == Verbosity.Quiet) { work(new Silent()); return; }
        if (!Terminal.StderrIsTerminal || !Terminal.Err.Profile.Capabilities.Interactive)
        {
            work(new Plain(totalRuns, verbosity));
            return;
        }
        Terminal.Err.Progress()
            .AutoClear(true)
            .HideCompleted(false)
            .Columns(new SpinnerColumn(), new PercentageColumn(), new ProgressBarColumn { Width = 20 }, new TaskDescriptionColumn { Alignment = Justify.Left })
            .Start(ctx =>
            {
                var task = ctx.AddTask("check", maxValue: totalRuns);
                work(new Live(task, totalRuns, maxExecutions, verbosity));
                task.Value = totalRuns;
                task.StopTask();
            });
    }

    private sealed class Silent : ICheckProgress
    {
        public void RunStarted(string proposal, string config, string scenario) { }
        public void Executions(long done) { }
        public void RunFinished(ScenarioRun run) { }
        public void Found(string proposal, string config, string scenario, Finding finding) { }
    }

    /// <summary>The line a new finding is announced with: "found S2 in mainline rt [oom-reap-vs-fault]: BUG: ... (SIGNATURE; token ...)".</summary>
    internal static string FoundLine(string proposal, string config, string scenario, Finding f)
        => $"found {f.Property} in {proposal} {config} [{scenario}]: {f.Violation.Message} ({f.Signature}; token {f.Token})";

    internal static string Line(int index, int total, ScenarioRun run)
    {
        var e = run.Exploration;
        var verdict = run.ModelError != null ? "model error"
            : run.Findings.Count == 0 ? "clean"
            : "violated " + string.Join(",", run.Findings.Select(f => f.Property).Distinct());
        var width = total.ToString().Length;
        return $"[{index.ToString().PadLeft(width)}/{total}] {run.Proposal.Id} × {run.Config.Name} × {run.Scenario.Id}: "
             + $"{e.Executions} executions, {e.Steps} steps ({(e.Exhaustive ? "exhaustive" : run.ModelError != null ? "incomplete" : $"bounded: {e.Strategy} stopped at {(e.StoppedBy is { } by ? Lockstep.Reporting.BoundedRun.At(by) : "the bound")}")}"
             + (e.Fallback is { } f ? $", then {f.Executions} of {f.Strategy}" + (f.StoppedBy == Saturation.Reason ? " to saturation" : "") : "") + $") in {e.Elapsed.TotalSeconds:0.00} s, "
             + $"{e.ExecutionsPerSecond:N0}/s; {verdict}";
    }

    /// <summary>CI logs: a line per finished run (and with --verbose the token of each finding), a heartbeat every 10 s of a long run.</summary>
    private sealed class Plain(int total, Verbosity verbosity) : ICheckProgress
    {
        private int _done;
        private readonly Stopwatch _sinceLine = Stopwatch.StartNew();
        private string _current = "";

        public void RunStarted(string proposal, string config, string scenario)
        {
            _current = $"{proposal} × {config} × {scenario}";
            _sinceLine.Restart();
        }

        public void Executions(long done)
        {
            if ((done & 1023) != 0 || _sinceLine.Elapsed.TotalSeconds < 10) return;
            Console.Error.WriteLine($"  ... {_current}: {done} executions");
            _sinceLine.Restart();
        }

        public void RunFinished(ScenarioRun run)
        {
            Console.Error.WriteLine(Line(++_done, total, run));
            if (verbosity == Verbosity.Verbose)
                foreach (var f in run.Findings) Console.Error.WriteLine($"      {f.Property} {f.Violation.Message}\n        {f.Token}");
        }

        public void Found(string proposal, string config, string scenario, Finding finding) => Console.Error.WriteLine(FoundLine(proposal, config, scenario, finding));
    }

    /// <summary>The live display: overall bar over the runs, description = current run and executions/s.</summary>
    private sealed class Live(ProgressTask task, int total, long maxExecutions, Verbosity verbosity) : ICheckProgress
    {
        private readonly Stopwatch _all = Stopwatch.StartNew();
        private readonly Stopwatch _run = new();
        private readonly Stopwatch _refresh = Stopwatch.StartNew();
        private long _executionsBefore;
        private int _done;
        private string _current = "";

        public void RunStarted(string proposal, string config, string scenario)
        {
            _current = $"{proposal} × {config} × {scenario}";
            _run.Restart();
            Describe(0);
        }

        public void Executions(long done)
        {
            if (_refresh.ElapsedMilliseconds < 100) return;
            _refresh.Restart();
            task.Value = _done + Math.Min(0.99, (double)done / maxExecutions);
            Describe(done);
        }

        public void RunFinished(ScenarioRun run)
        {
            _done++;
            _executionsBefore += run.Exploration.TotalExecutions;
            task.Value = _done;
            if (verbosity == Verbosity.Verbose)
            {
                Terminal.Err.MarkupLine(Markup.Escape(Line(_done, total, run)));
                foreach (var f in run.Findings)
                    Terminal.Err.MarkupLine($"      [red]{Markup.Escape(f.Property)}[/] {Markup.Escape(f.Violation.Message)}\n        [grey]{Markup.Escape(f.Token)}[/]");
            }
        }

        public void Found(string proposal, string config, string scenario, Finding finding)
            => Terminal.Err.MarkupLine($"[red]{Markup.Escape(FoundLine(proposal, config, scenario, finding))}[/]");

        private void Describe(long done)
        {
            var run = _run.Elapsed.TotalSeconds > 0 ? done / _run.Elapsed.TotalSeconds : 0;
            var all = _all.Elapsed.TotalSeconds > 0 ? (_executionsBefore + done) / _all.Elapsed.TotalSeconds : 0;
            // the rate first: a narrow terminal cuts the end of the line
            task.Description = $"[bold]{run,7:N0}[/] executions/s  [bold]{Markup.Escape(_current)}[/] [grey]{done:N0} executions; run {_done + 1}/{total}, "
                + $"{_executionsBefore + done:N0} executions in all, {all:N0}/s[/]";
        }
    }
}
