using Lockstep.Models.Proposals;
using Lockstep.Models.Scenarios;

namespace Lockstep.Models;

/// <summary>The built-in suite: the thread's proposals and the scenarios of KERNEL-FACTS §6.4, registered like any extension.</summary>
public sealed class BuiltIn : IExtension
{
    public void Register(Registry registry)
    {
        registry.Register(Mainline.Proposal);
        registry.Register(RawMnInvalidateLock.Proposal);
        registry.Register(AtomicCount.Proposal);
        registry.Register(DeferNonblockWork.ReturnZero);
        registry.Register(DeferNonblockWork.ReturnEagain);
        registry.Register(OomEnterUnregister.Proposal);
        registry.Register(OomEnterFlag.Proposal);
        registry.Register(OomEnterCallSrcu.Proposal);
        registry.Register(OomEnterZapDead.Proposal);
        foreach (var scenario in BuiltInScenarios.All) registry.Register(scenario);
    }
}
