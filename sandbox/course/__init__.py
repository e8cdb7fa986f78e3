"""The course kit: exercises for instructors (``course/``) and the checker that grades them.

``sandbox course check 1|2`` runs :func:`check_exercise` on a student's folder; each
check says what passed, or what to do next.
"""

from __future__ import annotations

from sandbox.course.checks import COURSE_DIR, Check, CourseError
from sandbox.course.grade import check_exercise, exercise_dir, start_work

__all__ = [
    "COURSE_DIR",
    "Check",
    "CourseError",
    "check_exercise",
    "exercise_dir",
    "start_work",
]
