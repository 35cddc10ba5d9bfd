"""Curvature of networks (PyTorch): Jacobian products, GGN, Hessian, Fisher, K-FAC."""
