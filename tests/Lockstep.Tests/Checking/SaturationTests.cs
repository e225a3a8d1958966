using System.Text.Json;
using Lockstep.Engine;
using Lockstep.Kernel;
using Lockstep.Models;
using Lockstep.Tests.Scripting;

namespace Lockstep.Tests.Checking;

/// <summary>
/// The saturation rule (<see cref="Saturation"/>): a phase that cannot prove anything stops once a window of its step
/// budget and enough executions found nothing new; a new finding restarts the window; an unbounded DPOR phase is never cut.
/// </summary>
public sealed class SaturationTests : CommandLineTest
{
    private static readonly Violation Something = new("assertion", "something");

    [Fact]
    public void APhaseStopsAfterTheWindowWithNothingNewAndANewFindingRestartsIt()
    {
        var (stop, found) = new Saturation(0.25, 100, CutsStrategy: false).For(new Lockstep.Kernel.Kernel(KernelConfig.Default));
        Assert.Null(stop(new PhaseProgress(0, 10_000, 1_000_000, 1_000)));   // DPOR's own phase: never
        Assert.Null(stop(new PhaseProgress(1, 99, 900, 1_000)));             // the fallback: not before 100 executions
        Assert.Null(stop(new PhaseProgress(1, 150, 240, 1_000)));            // nor before 25% of its budget
        Assert.Equal("saturation", stop(new PhaseProgress(1, 150, 250, 1_000)));
        found(Something);
        Assert.Null(stop(new PhaseProgress(1, 151, 260, 1_000)));            // new: the window starts again here
        Assert.Null(stop(new PhaseProgress(1, 300, 500, 1_000)));
        Assert.Equal("saturation", stop(new PhaseProgress(1, 300, 510, 1_000)));
    }

    [Fact]
    public void AStrategyThatCannotFinishIsCutToo()
    {
        var (stop, _) = new Saturation(0.25, 100, CutsStrategy: true).For(new Lockstep.Kernel.Kernel(KernelConfig.Default));
        Assert.Equal("saturation", stop(new PhaseProgress(0, 100, 250, 1_000)));
    }

    /// <summary>mainline × oom-reap-vs-exit on a small budget: DPOR stops at it; PCT saturates with --saturation 25, or by default (off) spends the rest.</summary>
    [Fact]
    public void ThePctFallbackStopsAtSaturationAndTheRunSaysSo()
    {
        (long Executions, string? StoppedBy, string Verdict, string Text) Fallback(params string[] more)
        {
            var json = Path.Combine(_directory, $"s{more.Length}.json");
            Assert.Equal(0, Run(new[] { "check", "--proposal", "mainline", "--config", "default", "--scenario", "oom-reap-vs-exit", "--step-budget", "100000", "--json", json, "--quiet" }.Concat(more).ToArray()).Exit);
            using var j = JsonDocument.Parse(File.ReadAllText(json));
            var cell = j.RootElement.GetProperty("results")[0];
            var bounded = cell.GetProperty("bounded")[0];
            var fallback = bounded.GetProperty("fallback");
            return (fallback.GetProperty("executions").GetInt64(), fallback.GetProperty("stopped_by").GetString(), cell.GetProperty("verdict").GetString()!, bounded.GetProperty("text").GetString()!);
        }
        var saturated = Fallback("--saturation", "25");
        var spent = Fallback();
        Assert.Equal(("saturation", "bounded"), (saturated.StoppedBy, saturated.Verdict));
        Assert.EndsWith("more (to saturation)", saturated.Text);
        Assert.Equal(("step budget", "bounded"), (spent.StoppedBy, spent.Verdict));
        Assert.True(saturated.Executions >= 100 && saturated.Executions < spent.Executions, $"{saturated.Executions} against {spent.Executions}");
        Assert.Equal((2, "", "lockstep: --saturation takes a percentage 1..100 or off, not '0'"), (Run("check", "--saturation", "0") is var r ? (r.Exit, r.Out, r.Error.TrimEnd()) : default));
    }
}
