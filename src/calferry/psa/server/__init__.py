"""psa/server"""
