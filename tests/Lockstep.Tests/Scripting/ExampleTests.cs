using System.Runtime.CompilerServices;
using System.Text.Json;

namespace Lockstep.Tests.Scripting;

/// <summary>Every file of examples/ through `lockstep check`, with the verdicts its comment promises (KERNEL-FACTS §6.1).</summary>
public sealed class ExampleTests : CommandLineTest
{
    private static string Example(string name, [CallerFilePath] string here = "")
        => Path.GetFullPath(Path.Combine(Path.GetDirectoryName(here)!, "..", "..", "..", "examples", name));

    /// <summary>Runs check with --json and returns "config property" → verdict, plus the exit code and stderr.</summary>
    private (int Exit, string Error, Dictionary<string, string> Verdicts, JsonElement[] Cells) Check(params string[] args)
    {
        var json = Path.Combine(_directory, $"{Guid.NewGuid():n}.json");
        var (exit, _, error) = Run(args.Concat(new[] { "--json", json, "--quiet" }).ToArray());
        if (!File.Exists(json)) return (exit, error, new(), Array.Empty<JsonElement>());
        var cells = JsonDocument.Parse(File.ReadAllText(json)).RootElement.GetProperty("results").EnumerateArray().ToArray();
        return (exit, error, cells.ToDictionary(c => $"{c.GetProperty("config").GetString()} {c.GetProperty("property").GetString()}",
            c => c.GetProperty("verdict").GetString()!), cells);
    }

    private static void Violated(Dictionary<string, string> verdicts, params string[] violated)
    {
        foreach (var (cell, verdict) in verdicts)
            Assert.True(verdict == (violated.Contains(cell) ? "violated" : "holds"), $"{cell}: {verdict}");
    }

    [Fact]
    public void RawGpcLockSplatsOnRtAtMnInvalidateLockLikeMainline()
    {
        var (html, sarif) = (Path.Combine(_directory, "check.html"), Path.Combine(_directory, "check.sarif"));
        var (exit, error, verdicts, cells) = Check("check", "--patch", Example("raw-gpc-lock.csx"), "--html", html, "--sarif", sarif);
        Assert.Equal(0, exit);
        Violated(verdicts, "rt S2");
        Assert.All(cells, c => Assert.True(c.GetProperty("exhaustive").GetBoolean()));
        // the reports of a user patch are those of a built-in: the HTML embeds the violated cell's trace, SARIF points at the kernel
        var token = cells.Single(c => c.GetProperty("verdict").GetString() == "violated").GetProperty("token").GetString()!;
        Assert.Contains("raw-gpc-lock", File.ReadAllText(html));
        Assert.Contains("kvm_mmu_notifier_invalidate_range_start", File.ReadAllText(html));
        var result = JsonDocument.Parse(File.ReadAllText(sarif)).RootElement.GetProperty("runs")[0].GetProperty("results")[0];
        Assert.Equal(("S2", token), (result.GetProperty("ruleId").GetString(), result.GetProperty("properties").GetProperty("token").GetString()));
    }

    [Fact]
    public void OomNotifyOpBreaksTheNotifierContractAndReaping()
    {
        var (exit, error, verdicts, cells) = Check("check", "--patch", Example("oom-notify-op.csx"), "--scenario", "oom-reap-vs-fault", "--config", "default");
        Assert.Equal((0, ""), (exit, error));
        Violated(verdicts, "default S5", "default S6", "default L2", "default L4");
        var token = cells.First(c => c.GetProperty("property").GetString() == "S5").GetProperty("token").GetString()!;
        Assert.StartsWith("oom-notify-op/default/oom-reap-vs-fault/", token);
        // the token replays with the same patch, and is refused without it
        Assert.Equal(0, Run("explain", token, "--patch", Example("oom-notify-op.csx"), "--format", "lkml").Exit);
        Assert.Equal(2, Run("explain", token).Exit);
    }

    [Fact]
    public void TwoVcpusInTwoMemslotsSplatOnRtOnly()
    {
        var (exit, error, verdicts, _) = Check("check", "--world", Example("two-vcpus-two-memslots.csx"), "--proposal", "mainline", "--executions", "20000");
        Assert.Equal((0, ""), (exit, error));
        Violated(verdicts, "rt S2");
    }

    [Fact]
    public void ADmirrorDeviceMakesTheReaperGiveUpOnGuestRam()
    {
        var (exit, error, verdicts, cells) = Check("check", "--world", Example("dmirror-subscriber.csx"), "--proposal", "mainline");
        Assert.Equal((0, ""), (exit, error));
        Violated(verdicts, "default L2", "rt L2", "rt S2");
        Assert.All(cells, c => Assert.True(c.GetProperty("exhaustive").GetBoolean()));
    }
}
