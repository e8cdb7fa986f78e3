"""Messages shared by the exercises and the ``sandbox course`` commands: (English, pt-BR)."""
# ruff: noqa: E501  (messages are sentences: a translator reads each on one line)

MESSAGES: dict[str, tuple[str, str]] = {
    "cli.started": (
        "started exercise {exercise} in {work}",
        "exercício {exercise} iniciado em {work}",
    ),
    "cli.check_hint": (
        "check it with:  uv run sandbox course check {exercise}",
        "confira com:  uv run sandbox course check {exercise}",
    ),
    "cli.summary": ("{passed}/{total} checks pass", "{passed}/{total} critérios passam"),
    "cli.pass": ("PASS", "OK"),
    "cli.fail": ("FAIL", "FALHA"),
    "cli.packed": (
        "student repository written to {path}: {files} files, no solution",
        "repositório do aluno gravado em {path}: {files} arquivos, sem solução",
    ),
    "error.no_exercise": (
        "course: no exercise {number}; choose from {choices}",
        "curso: não existe o exercício {number}; escolha entre {choices}",
    ),
    "error.not_a_folder": (
        "course: {path} is not a folder; create it with {hint}",
        "curso: {path} não é uma pasta; crie-a com {hint}",
    ),
    "error.work_exists": (
        "course: {work} already exists; check it, or pass --force to restart",
        "curso: {work} já existe; confira-a, ou use --force para recomeçar",
    ),
    "error.check_crashed": (
        "the checker could not finish this check ({error}): fix what it names and check again, or show it to the instructor",
        "o corretor não conseguiu terminar esta verificação ({error}): corrija o que ela aponta e confira de novo, ou mostre ao instrutor",
    ),
    "error.not_yaml": (
        "course: {path} is not valid YAML: {error}",
        "curso: {path} não é um YAML válido: {error}",
    ),
    "pack.not_git": (
        "course: {source} is not a git checkout: the pack holds the repository's tracked files",
        "curso: {source} não é um clone git: o pacote leva os arquivos versionados do repositório",
    ),
    "pack.inside": (
        "course: {dest} is inside {source}: write the students' repository somewhere else",
        "curso: {dest} fica dentro de {source}: grave o repositório dos alunos em outro lugar",
    ),
    "pack.not_empty": (
        "course: {dest} is not empty: choose a new folder",
        "curso: {dest} não está vazia: escolha uma pasta nova",
    ),
}
