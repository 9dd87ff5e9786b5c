"""The org admin page (``calferry org web``): sign-in, technicians, settings, the Autotask requests chart."""
