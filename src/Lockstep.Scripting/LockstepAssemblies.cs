using System.Reflection;
using Lockstep.Engine;
using Lockstep.Kernel;
using Lockstep.Models;

namespace Lockstep.Scripting;

/// <summary>The assemblies a script is compiled against: the engine, the kernel, the models and this one (<see cref="ScriptGlobals"/>).</summary>
internal static class LockstepAssemblies
{
    public static readonly Assembly[] All =
    {
        typeof(SimTask).Assembly, typeof(Api).Assembly, typeof(Registry).Assembly, typeof(ScriptGlobals).Assembly,
    };
}
