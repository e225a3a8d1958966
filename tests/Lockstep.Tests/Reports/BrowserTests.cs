using Lockstep.Engine;
using Lockstep.Kernel;
using Lockstep.Models;
using Lockstep.Reporting;
using Microsoft.Playwright;

namespace Lockstep.Tests.Reporting;

/// <summary>
/// The HTML pages in a real headless browser: Debian's chromium driven by Playwright (never `playwright install`: .ci/run
/// installs the apt package). Without /usr/bin/chromium these tests fail rather than skip.
/// </summary>
public sealed class BrowserFixture : IAsyncLifetime
{
    public const string Chromium = "/usr/bin/chromium";

    public IPlaywright? Playwright { get; private set; }

    public IBrowser? Browser { get; private set; }

    public async Task InitializeAsync()
    {
        if (!File.Exists(Chromium)) return;   // each test fails with the reason
        Playwright = await Microsoft.Playwright.Playwright.CreateAsync();
        Browser = await Playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = Chromium,
            Headless = true,
            Timeout = 60_000,
            Args = new[]
            {
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run",
            },
        });
    }

    public async Task DisposeAsync()
    {
        if (Browser != null) await Browser.CloseAsync();
        Playwright?.Dispose();
    }
}

[Collection(nameof(Lockstep.Tests.Scripting.ConsoleCapture))]
public class BrowserTests(BrowserFixture fixture) : IClassFixture<BrowserFixture>
{
    private static readonly string Screenshots = Path.Combine(AppContext.BaseDirectory, "screenshots");

    private async Task<(IPage Page, List<string> Requests)> Open(string html, string name)
    {
        Assert.True(File.Exists(BrowserFixture.Chromium),
            $"{BrowserFixture.Chromium} is missing: install Debian's chromium (apt-get install -y chromium; .ci/run does it)");
        Assert.NotNull(fixture.Browser);
        var dir = Directory.CreateTempSubdirectory("lockstep-html-");
        var file = Path.Combine(dir.FullName, name);
        await File.WriteAllTextAsync(file, html);
        var page = await fixture.Browser!.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1800, Height = 1100 } });
        var requests = new List<string>();
        page.Request += (_, r) => requests.Add(r.Url);
        await page.GotoAsync(new Uri(file).AbsoluteUri, new PageGotoOptions { WaitUntil = WaitUntilState.Load });
        return (page, requests);
    }

    private static async Task<string> Shoot(IPage page, string name, ILocator? element = null)
    {
        Directory.CreateDirectory(Screenshots);
        var path = Path.Combine(Screenshots, name);
        var png = element == null
            ? await page.ScreenshotAsync(new PageScreenshotOptions { Path = path, FullPage = true })
            : await element.ScreenshotAsync(new LocatorScreenshotOptions { Path = path });
        Assert.True(png.Length > 5_000, $"{path}: {png.Length} bytes");
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, png.Take(4).ToArray());
        return path;
    }

    private static readonly Registry Registry = Registry.WithBuiltIns();

    private static string MainlineRtSplatToken()
    {
        var run = Suite.Run(Registry, Registry.Proposal("mainline"), KernelConfig.Rt, Registry.Scenario("oom-reap-vs-fault"), new DporStrategy(), new ExplorationOptions { MaxExecutions = 10_000 });
        return run.Findings.First(f => f.Property == "S2").Token;
    }

    [Fact]
    public async Task ExplainPageShowsLanesTheViolatingStepAndTheKernelLogBesideIt()
    {
        var trace = TraceCapture.FromToken(Registry, MainlineRtSplatToken());
        var (page, requests) = await Open(Html.Explain(trace), "explain.html");

        // one lane per task, in thread order
        var lanes = await page.Locator("th.lane").AllInnerTextsAsync();
        Assert.Equal(trace.Lanes.Select(l => l.Name), lanes);
        Assert.Contains("oom_reaper/53", lanes);
        Assert.Contains("CPU 0/KVM/4993", lanes);

        // the violating step: the reaper's spin_lock of mn_invalidate_lock, highlighted in red, in the reaper's lane
        var hit = page.Locator(".ev.violating").First;
        await hit.ScrollIntoViewIfNeededAsync();
        Assert.True(await hit.IsVisibleAsync());
        Assert.Contains("spin_lock(&kvm->mn_invalidate_lock)", await hit.InnerTextAsync());
        Assert.Equal("rgb(198, 40, 40)", await hit.EvaluateAsync<string>("e => getComputedStyle(e).backgroundColor"));
        var laneOfHit = await hit.EvaluateAsync<string>(
            "e => e.closest('table').querySelectorAll('thead th')[e.closest('td').cellIndex].innerText");
        Assert.Equal("oom_reaper/53", laneOfHit);
        Assert.True(await hit.EvaluateAsync<bool>("e => e.closest('.box').classList.contains('violating-box')"));

        // the context bits at that step: non-blocking, with the locks held
        var ctx = await hit.EvaluateAsync<string>("e => e.nextElementSibling.innerText");
        Assert.Contains("non_block 1", ctx);
        Assert.Contains("holds", ctx);

        // the kernel log in the same row, to the right of the step
        var row = page.Locator("tr.has-violation").First;
        var log = row.Locator(".report.primary pre.kernel-log");
        Assert.True(await log.IsVisibleAsync());
        var text = await log.InnerTextAsync();
        Assert.StartsWith("BUG: sleeping function called from invalid context at kernel/locking/spinlock_rt.c", text);
        Assert.Contains("non_block: 1, pid: 53, name: oom_reaper", text);
        var hitBox = (await hit.BoundingBoxAsync())!;
        var logBox = (await row.Locator(".report.primary").BoundingBoxAsync())!;   // its title bar, then the log
        Assert.True(logBox.X >= hitBox.X + hitBox.Width, $"log at x={logBox.X}, step ends at x={hitBox.X + hitBox.Width}");
        Assert.True(logBox.Y < hitBox.Y + hitBox.Height && hitBox.Y < logBox.Y + logBox.Height, $"the log (y {logBox.Y}..{logBox.Y + logBox.Height}) sits beside the step (y {hitBox.Y}..{hitBox.Y + hitBox.Height})");

        // the header names the finding and where it is
        var finding = await page.Locator("ul.findings li").First.InnerTextAsync();
        Assert.Contains("kvm_mmu_notifier_invalidate_range_start (virt/kvm/kvm_main.c)", finding);

        // self-contained: the page fetched nothing but itself
        Assert.All(requests, u => Assert.StartsWith("file:", u));
        Assert.Single(requests);

        await hit.ScrollIntoViewIfNeededAsync();
        var at = (await hit.BoundingBoxAsync())!;
        Directory.CreateDirectory(Screenshots);
        var shot = await page.ScreenshotAsync(new PageScreenshotOptions
        {
            Path = Path.Combine(Screenshots, "explain-at-violation.png"),
            Clip = new Clip { X = 0, Y = Math.Max(0, at.Y - 350), Width = 1800, Height = 750 },
        });
        Assert.True(shot.Length > 5_000);
        await Shoot(page, "explain-violation-row.png", row);
        await Shoot(page, "explain.png");
        await page.CloseAsync();
    }

    [Fact]
    public async Task CheckPageLinksEachViolatedCellToItsEmbeddedTrace()
    {
        var dir = Directory.CreateTempSubdirectory("lockstep-check-");
        var file = Path.Combine(dir.FullName, "check.html");
        var exit = Lockstep.Cli.Program.Main(new[]
        {
            "check", "--proposal", "mainline,oom-enter-unregister", "--config", "rt", "--scenario", "oom-reap-vs-fault",
            "--html", file, "--quiet",
        });
        Assert.Equal(0, exit);
        var (page, requests) = await Open(await File.ReadAllTextAsync(file), "check.html");

        Assert.Equal("ok", await page.Locator("#cell-mainline-rt-S1").InnerTextAsync());
        var cell = page.Locator("#cell-mainline-rt-S2");
        Assert.Equal("xx", await cell.GetAttributeAsync("class"));
        Assert.Equal("rgb(198, 40, 40)", await cell.EvaluateAsync<string>("e => getComputedStyle(e).backgroundColor"));
        var sections = page.Locator("section.embedded");
        Assert.True(await sections.CountAsync() >= 2);
        for (var i = 0; i < await sections.CountAsync(); i++) Assert.False(await sections.Nth(i).IsVisibleAsync());

        await cell.Locator("a").ClickAsync();
        var target = page.Locator("section.embedded:target");
        Assert.Equal(1, await target.CountAsync());
        Assert.True(await target.IsVisibleAsync());
        Assert.Contains("mainline rt", await target.Locator("h2").InnerTextAsync());
        Assert.Contains("oom_reaper/53", await target.Locator("th.lane").AllInnerTextsAsync());
        var hit = target.Locator(".ev.violating").First;
        Assert.True(await hit.IsVisibleAsync());
        Assert.Contains("spin_lock(&kvm->mn_invalidate_lock)", await hit.InnerTextAsync());
        Assert.Contains("BUG: sleeping function called from invalid context", await target.Locator(".report.primary pre").InnerTextAsync());
        Assert.Equal(1, await page.Locator("section.embedded:visible").CountAsync());
        await Shoot(page, "check-trace.png", target.Locator("tr.has-violation").First);

        // against mainline, the other proposal's S2 has a splat of its own: marked new, in the matrix and in the list of findings
        Assert.StartsWith("XX+", await page.Locator("#cell-oom-enter-unregister-rt-S2").InnerTextAsync());
        Assert.True(await page.Locator("ul.violations .change.new").CountAsync() >= 1);

        // the other proposal's lockdep cell leads to the recursive-locking report
        await page.Locator("#cell-oom-enter-unregister-rt-S3 a").ClickAsync();
        var other = page.Locator("section.embedded:target");
        Assert.Contains("WARNING: possible recursive locking detected",
            string.Join("\n", await other.Locator(".report pre").AllInnerTextsAsync()));
        Assert.All(requests, u => Assert.StartsWith("file:", u));
        await other.Locator("a.back").ClickAsync();
        Assert.Equal(0, await page.Locator("section.embedded:visible").CountAsync());
        await Shoot(page, "check.png");
        await page.CloseAsync();
    }
}
