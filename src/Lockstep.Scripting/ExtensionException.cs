namespace Lockstep.Scripting;

/// <summary>A user file that cannot be loaded: reported as "lockstep: message", exit code 2.</summary>
public class ExtensionException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>A script that does not compile: its message is the compiler's lines, "file(line,column): error CS0103: ...".</summary>
public sealed class ScriptCompilationException(IEnumerable<string> diagnostics) : ExtensionException(string.Join('\n', diagnostics));
