using Lockstep.Engine;
using Lockstep.Kernel;

namespace Lockstep.Tests.Kernel;

internal static class KernelHarness
{
    /// <summary>Explores <paramref name="model"/> exhaustively under <paramref name="config"/>, collecting every distinct report.</summary>
    public static ExplorationResult Check(KernelConfig config, Func<Lockstep.Kernel.Kernel, SimTask> model, Lockstep.Kernel.Kernel? kernel = null)
    {
        kernel ??= new Lockstep.Kernel.Kernel(config);
        var k = kernel;
        return Explorer.Explore(k.Boot(() => model(k)), new DporStrategy(), new ExplorationOptions { StopOnFirstViolation = false });
    }

    public static KernelReport Single(ExplorationResult r, string kind)
        => Assert.Single(r.Violations.OfType<KernelReport>(), v => v.Kind == kind);

    public static IEnumerable<string> Kinds(ExplorationResult r) => r.Violations.Select(v => v.Kind);
}
