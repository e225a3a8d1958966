using System.Runtime.CompilerServices;
using System.Text.Json;

namespace Lockstep.Tests.Scripting;

/// <summary>Every file of examples/ through `lockstep check`, with the verdicts its comment promises (KERNEL-FACTS §6.1).</summary>
public sealed class ExampleTests : CommandLineTest
{
    private static string Example(string name, [CallerFilePath] string here = "")
        => Path.GetFullPath(Path.Combine(Path.GetDirectoryName(here)!, "..", "..", "..", "examples", name));

    /// <summary>Runs check with --json and returns "proposal config property" → verdict, plus the exit code, stderr and the cells.</summary>
    private (int Exit, string Error, Dictionary<string, string> Verdicts, JsonElement[] Cells) Check(params string[] args)
    {
        var json = Path.Combine(_directory, $"{Guid.NewGuid():n}.json");
        var (exit, _, error) = Run(args.Concat(new[] { "--json", json, "--quiet" }).ToArray());
        if (!File.Exists(json)) return (exit, error, new(), Array.Empty<JsonElement>());
        var cells = JsonDocument.Parse(File.ReadAllText(json)).RootElement.GetProperty("results").EnumerateArray().ToArray();
        return (exit, error, cells.ToDictionary(c => $"{c.GetProperty("proposal").GetString()} {c.GetProperty("config").GetString()} {c.GetProperty("property").GetString()}",
            c => c.GetProperty("verdict").GetString()!), cells);
    }

    /// <summary>The cells of <paramref name="proposal"/> named "config property" are violated, the others have the verdict <paramref name="otherwise"/>.</summary>
    private static void Violated(Dictionary<string, string> verdicts, string proposal, string otherwise, params string[] violated)
    {
        foreach (var (cell, verdict) in verdicts.Where(v => v.Key.StartsWith(proposal + " ")))
            Assert.True(verdict == (violated.Contains(cell[(proposal.Length + 1)..]) ? "violated" : otherwise), $"{cell}: {verdict}");
    }

    private static JsonElement Cell(JsonElement[] cells, string proposal, string config, string property)
        => cells.Single(c => c.GetProperty("proposal").GetString() == proposal && c.GetProperty("config").GetString() == config
                             && c.GetProperty("property").GetString() == property);

    private static string[] Signatures(JsonElement cell, string list)
        => cell.GetProperty(list).EnumerateArray().Select(f => f.ValueKind == JsonValueKind.String ? f.GetString()! : f.GetProperty("signature").GetString()!).ToArray();

    [Fact]
    public void RawGpcLockSplatsOnRtAtMnInvalidateLockLikeMainline()
    {
        var (html, sarif) = (Path.Combine(_directory, "check.html"), Path.Combine(_directory, "check.sarif"));
        var (exit, error, verdicts, cells) = Check("check", "--patch", Example("raw-gpc-lock.csx"), "--html", html, "--sarif", sarif);
        Assert.Equal(0, exit);
        Violated(verdicts, "raw-gpc-lock", "holds", "rt S2");
        Violated(verdicts, "mainline", "holds", "rt S2");   // the baseline's rows come along
        Assert.All(cells, c => Assert.True(c.GetProperty("exhaustive").GetBoolean()));
        // against mainline: the splats at gpc->lock are gone, mn_invalidate_lock's is kept, nothing is new
        var s2 = Cell(cells, "raw-gpc-lock", "rt", "S2");
        Assert.Equal(new[] { "might-sleep:rt_read_lock(&gpc->lock) in gfn_to_pfn_cache_invalidate_start", "might-sleep:rt_write_lock(&gpc->lock) in gfn_to_pfn_cache_invalidate_start" },
            Signatures(s2, "fixed").Distinct());
        Assert.Contains("might-sleep:rt_spin_lock(&kvm->mn_invalidate_lock) in kvm_mmu_notifier_invalidate_range_start", Signatures(s2, "kept"));
        Assert.Empty(Signatures(s2, "new"));
        // the reports of a user patch are those of a built-in: the HTML embeds the findings' traces, SARIF points at the kernel
        var kept = s2.GetProperty("findings").EnumerateArray().First();
        Assert.Equal("kept", kept.GetProperty("change").GetString());
        Assert.Contains("raw-gpc-lock", File.ReadAllText(html));
        Assert.Contains("kvm_mmu_notifier_invalidate_range_start", File.ReadAllText(html));
        var results = JsonDocument.Parse(File.ReadAllText(sarif)).RootElement.GetProperty("runs")[0].GetProperty("results").EnumerateArray().ToList();
        static string? State(JsonElement r) => r.TryGetProperty("baselineState", out var state) ? state.GetString() : null;
        var result = results.First(r => r.GetProperty("properties").GetProperty("proposal").GetString() == "raw-gpc-lock" && State(r) == "unchanged");
        Assert.Equal(("S2", kept.GetProperty("token").GetString()), (result.GetProperty("ruleId").GetString(), result.GetProperty("properties").GetProperty("token").GetString()));
        Assert.Equal(2, results.Count(r => State(r) == "absent"
                                           && r.GetProperty("properties").GetProperty("token").GetString()!.StartsWith("mainline/rt/oom-reap-vs-fault/")));
    }

    [Fact]
    public void StartMutexAddsANewSplatBesideMainlinesAndFailsOnNew()
    {
        var args = new[] { "check", "--patch", Example("start-mutex.csx"), "--config", "rt", "--scenario", "oom-reap-vs-fault" };
        var (exit, error, verdicts, cells) = Check(args.Append("--fail-on").Append("new").ToArray());
        Assert.Equal((1, ""), (exit, error));
        Violated(verdicts, "start-mutex", "holds", "rt S2");
        var s2 = Cell(cells, "start-mutex", "rt", "S2");
        Assert.Equal(new[] { "might-sleep:mutex_lock(kvm_mn_start_lock) in kvm_mmu_notifier_invalidate_range_start" }, Signatures(s2, "new"));
        Assert.Contains("might-sleep:rt_spin_lock(&kvm->mn_invalidate_lock) in kvm_mmu_notifier_invalidate_range_start", Signatures(s2, "kept"));
        Assert.Empty(Signatures(s2, "fixed"));
        Assert.Equal(0, Check(args).Exit);
        Assert.Equal(1, Check(args.Append("--fail-on-violation").ToArray()).Exit);
        // mainline against itself: nothing new, though violated; any other proposal may be the baseline
        Assert.Equal(0, Check("check", "--proposal", "mainline", "--config", "rt", "--scenario", "oom-reap-vs-fault", "--fail-on", "new").Exit);
        Assert.Equal(1, Check("check", "--proposal", "mainline", "--config", "rt", "--scenario", "oom-reap-vs-fault", "--fail-on", "any").Exit);
        var (againstRaw, _, _, rawCells) = Check("check", "--proposal", "mainline", "--baseline", "raw-mn-invalidate-lock", "--config", "rt", "--scenario", "oom-reap-vs-fault", "--fail-on", "new");
        Assert.Equal(1, againstRaw);
        Assert.Contains("might-sleep:rt_spin_lock(&kvm->mn_invalidate_lock) in kvm_mmu_notifier_invalidate_range_start", Signatures(Cell(rawCells, "mainline", "rt", "S2"), "new"));
        // without a baseline there is nothing to compare
        var (none, _, _, plain) = Check(args.Concat(new[] { "--baseline", "none" }).ToArray());
        Assert.Equal(0, none);
        Assert.DoesNotContain(plain, c => c.GetProperty("proposal").GetString() == "mainline");
        Assert.All(plain.SelectMany(c => c.GetProperty("findings").EnumerateArray()), f => Assert.Equal(JsonValueKind.Null, f.GetProperty("change").ValueKind));
    }

    [Fact]
    public void OomNotifyOpBreaksTheNotifierContractAndReaping()
    {
        var (exit, error, verdicts, cells) = Check("check", "--patch", Example("oom-notify-op.csx"), "--scenario", "oom-reap-vs-fault", "--config", "default");
        Assert.Equal((0, ""), (exit, error));
        Violated(verdicts, "oom-notify-op", "bounded", "default S5", "default S6", "default L2", "default L4");
        Assert.StartsWith("dpor stopped at the step budget after ", Cell(cells, "oom-notify-op", "default", "S1").GetProperty("bounded")[0].GetProperty("text").GetString());
        var token = Cell(cells, "oom-notify-op", "default", "S5").GetProperty("findings")[0].GetProperty("token").GetString()!;
        Assert.StartsWith("oom-notify-op/default/oom-reap-vs-fault/", token);
        // the token replays with the same patch, and is refused without it
        Assert.Equal(0, Run("explain", token, "--patch", Example("oom-notify-op.csx"), "--format", "lkml").Exit);
        Assert.Equal(2, Run("explain", token).Exit);
    }

    [Fact]
    public void TwoVcpusInTwoMemslotsSplatOnRtOnly()
    {
        var (exit, error, verdicts, cells) = Check("check", "--world", Example("two-vcpus-two-memslots.csx"), "--proposal", "mainline", "--executions", "20000");
        Assert.Equal((0, ""), (exit, error));
        Violated(verdicts, "mainline", "holds", "rt S2");   // SRCU readers do not order each other: 20,000 executions cover it
        Assert.All(cells, c => Assert.True(c.GetProperty("exhaustive").GetBoolean()));
    }

    [Fact]
    public void ADmirrorDeviceMakesTheReaperGiveUpOnGuestRam()
    {
        var (exit, error, verdicts, cells) = Check("check", "--world", Example("dmirror-subscriber.csx"), "--proposal", "mainline");
        Assert.Equal((0, ""), (exit, error));
        Violated(verdicts, "mainline", "holds", "default L2", "rt L2", "rt S2");
        Assert.All(cells, c => Assert.True(c.GetProperty("exhaustive").GetBoolean()));
    }
}
